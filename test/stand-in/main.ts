// Runs the stand-in on its own for manual runs and benchmarks:
//   npx tsx test/stand-in/main.ts --port 8787 --key sk-test --latency-ms 200 --rpm 60 --fault-rate-429 0.2
// Prints the baseURL on the first line; on Ctrl-C prints how many requests ended which way.
import { parseArgs } from 'node:util';
import { FAULT_TYPES, randomFaults, startStandIn, type FaultType, type StandInOptions } from './server.js';

/** CLI flag suffix for each fault type: --fault-rate-429, --fault-rate-cut, ... */
const FAULT_FLAGS: Record<FaultType, string> = {
  http429: '429',
  http500: '500',
  http503: '503',
  cut: 'cut',
  destroy: 'destroy',
  stall: 'stall',
  'inband-error': 'inband-error',
  'no-usage': 'no-usage',
  moderation: 'moderation',
};

const HELP = `Usage: npx tsx test/stand-in/main.ts [options]
  --host <addr>                   listen address (default 127.0.0.1)
  --port <n>                      port (default 8787; 0 = any free port)
  --key <key>                     accepted API key (default sk-test)
  --latency-ms <n>                delay before response headers
  --chunk-delay-ms <n>            delay between stream chunks
  --rpm <n>                       requests per minute limit (429 limit_requests)
  --tpm <n>                       tokens per minute limit (429 insufficient_quota)
  --seed <n>                      seed for random faults (default 1)
  --retry-after-sec <n>    Retry-After sent with injected 429s
${FAULT_TYPES.map((t) => `  --fault-rate-${FAULT_FLAGS[t]} <p>`.padEnd(34) + `probability of the ${t} fault`).join('\n')}
  --verbose                       one line per finished request
  --help`;

const options = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8787' },
  key: { type: 'string', default: 'sk-test' },
  'latency-ms': { type: 'string' },
  'chunk-delay-ms': { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  seed: { type: 'string', default: '1' },
  'retry-after-sec': { type: 'string' },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
  ...Object.fromEntries(FAULT_TYPES.map((t) => [`fault-rate-${FAULT_FLAGS[t]}`, { type: 'string' as const }])),
} as const;

function num(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new Error(`--${name} expects a non-negative number, got ${JSON.stringify(raw)}`);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options, strict: true, allowPositionals: false });
  const v = values as Record<string, string | boolean | undefined>;
  if (v['help']) {
    console.log(HELP);
    return;
  }

  const rates: Partial<Record<FaultType, number>> = {};
  for (const t of FAULT_TYPES) {
    const flag = `fault-rate-${FAULT_FLAGS[t]}`;
    const r = num(flag, v[flag]);
    if (r !== undefined && r > 0) rates[t] = r;
  }
  const retryAfterSec = num('retry-after-sec', v['retry-after-sec']);
  const opts: StandInOptions = {
    apiKey: String(v['key']),
    host: String(v['host']),
    port: num('port', v['port']),
    latencyMs: num('latency-ms', v['latency-ms']),
    chunkDelayMs: num('chunk-delay-ms', v['chunk-delay-ms']),
    rpm: num('rpm', v['rpm']),
    tpm: num('tpm', v['tpm']),
    faults:
      Object.keys(rates).length > 0
        ? randomFaults(num('seed', v['seed']) ?? 1, rates, retryAfterSec === undefined ? {} : { retryAfterSec })
        : undefined,
  };

  const standIn = await startStandIn(opts);
  console.log(standIn.baseURL);
  console.error(`[stand-in] key=${opts.apiKey} faults=${JSON.stringify(rates)} rpm=${opts.rpm ?? '-'} tpm=${opts.tpm ?? '-'}`);

  let reported = 0;
  const verbose = v['verbose'] === true
    ? setInterval(() => {
        // Requests finish out of order; report each once its outcome is final.
        for (const r of standIn.requests.slice(reported)) {
          if (r.outcome === 'pending') break;
          console.error(`#${r.n} ${r.status} ${r.outcome} ${JSON.stringify(r.body?.model ?? null)}`);
          reported++;
        }
      }, 250)
    : null;

  const stop = async (): Promise<void> => {
    if (verbose) clearInterval(verbose);
    const tally: Record<string, number> = {};
    for (const r of standIn.requests) tally[r.outcome] = (tally[r.outcome] ?? 0) + 1;
    console.error(`[stand-in] ${standIn.requests.length} requests: ${JSON.stringify(tally)}`);
    await standIn.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  console.error(HELP);
  process.exit(2);
});
