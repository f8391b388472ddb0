/**
 * The DashScope stand-in in a process of its own, so that it never shares an event loop (or a core's worth of
 * scheduling) with the client being measured. Started by bench/lib/stand-in.ts over an IPC channel:
 *
 *   argv[2]: StandInOptions as JSON (rpm, tpm, latencyMs; the key)
 *   IPC in:  { cmd: 'stats' } | { cmd: 'reset' }
 *   IPC out: { ready: baseURL } once listening, then one Stats per 'stats'
 *
 * It keeps a compact log (arrival time and final status of every request) and drops the stand-in's full request
 * records as they finish, so a 200,000-request run does not grow this process without bound.
 */
import { startStandIn, type RecordedRequest, type StandInOptions } from '../test/stand-in/server.js';

export interface Stats {
  /** Requests that reached the stand-in (every outcome). */
  requests: number;
  byStatus: Record<string, number>;
  /** First arrival and last moment a request was in flight (ms since epoch); 0 when none. */
  firstAt: number;
  lastBusyAt: number;
  lastAt: number;
  /** Time-weighted mean of requests in flight between firstAt and lastBusyAt (sampled every 2 ms). */
  meanInFlight: number;
  maxInFlight: number;
  /** CPU time this process used since the last reset (user + system), ms: is the stand-in the bottleneck? */
  cpuMs: number;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as StandInOptions;
const standIn = await startStandIn(opts);

let arrivals: number[] = [];
let byStatus: Record<string, number> = {};
let lastBusyAt = 0;
let busySum = 0;
let busySamples = 0;
// The sums as they were at the last busy sample: idle time after the run does not dilute the mean.
let busySumAtLast = 0;
let busySamplesAtLast = 0;
let maxInFlight = 0;
let cpuAtReset = process.cpuUsage();

/** Moves finished records into the compact log; pending ones stay for their outcome. */
function harvest(): void {
  const keep: RecordedRequest[] = [];
  for (const r of standIn.requests) {
    if (r.outcome === 'pending') keep.push(r);
    else {
      arrivals.push(r.at);
      const key = r.status === 0 ? r.outcome : String(r.status);
      byStatus[key] = (byStatus[key] ?? 0) + 1;
    }
  }
  standIn.requests.splice(0, standIn.requests.length, ...keep);
}

// In-flight sampling: how full the client keeps the pipe (the utilisation the benchmark is about).
const sampler = setInterval(() => {
  const n = standIn.inFlight;
  if (arrivals.length > 0 || standIn.requests.length > 0) {
    busySum += n;
    busySamples++;
  }
  if (n > 0) {
    lastBusyAt = Date.now();
    busySumAtLast = busySum;
    busySamplesAtLast = busySamples;
  }
  if (n > maxInFlight) maxInFlight = n;
}, 2);
const harvester = setInterval(harvest, 500);

function stats(): Stats {
  harvest();
  let firstAt = 0;
  let lastAt = 0;
  for (const at of arrivals) {
    if (firstAt === 0 || at < firstAt) firstAt = at;
    if (at > lastAt) lastAt = at;
  }
  return {
    requests: arrivals.length + standIn.requests.length,
    byStatus,
    firstAt,
    lastBusyAt,
    lastAt,
    meanInFlight: busySamplesAtLast ? busySumAtLast / busySamplesAtLast : 0,
    maxInFlight,
    cpuMs: (() => {
      const u = process.cpuUsage(cpuAtReset);
      return (u.user + u.system) / 1000;
    })(),
  };
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'stats') process.send?.(stats());
  if (m.cmd === 'reset') {
    harvest();
    arrivals = [];
    byStatus = {};
    lastBusyAt = 0;
    busySum = 0;
    busySamples = 0;
    busySumAtLast = 0;
    busySamplesAtLast = 0;
    maxInFlight = 0;
    cpuAtReset = process.cpuUsage();
    process.send?.({ reset: true });
  }
});
process.on('disconnect', () => {
  clearInterval(sampler);
  clearInterval(harvester);
  void standIn.close().then(() => process.exit(0));
});
process.send?.({ ready: standIn.baseURL });
