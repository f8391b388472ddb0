/**
 * The dashboard's web server: Bull Board for the queues, our runs page, and the JSON the page polls.
 *
 * Bull Board (express adapter) is mounted read-only: removing or cleaning a job by hand would leave its run
 * waiting forever for a row that no worker will write. Requests whose Host header is not a name of this
 * server (loopback, the address it was bound to, this machine's name and addresses, --allow-host) are refused,
 * so a web page cannot read the runs through a DNS-rebound name, whatever address the server listens on.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { RedisClient } from '../../engine/bullmq/connection.js';
import { ConfigError } from '../../shared/errors.js';
import { controlQueue, jobsQueue } from '../../engine/bullmq/queues.js';
import { queueStats, type QueueStats } from '../../engine/bullmq/status.js';
import { listRunIds, runSnapshot, type QueueSummary, type RunSummary } from '../../engine/bullmq/snapshot.js';
import { dashboardPage } from './page.js';

export interface DashboardOptions {
  readonly redis: RedisClient;
  /** The Redis URL with its password redacted, shown on the page. */
  readonly redisLabel: string;
  /** Default 127.0.0.1. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** How many runs the page lists, newest first. Default 20. */
  readonly maxRuns?: number;
  /** How often the page asks for new numbers. Default 2000 ms. */
  readonly pollMs?: number;
  /** More Host names the page may be asked under (a reverse proxy's name, a DNS name of this machine). */
  readonly allowHosts?: readonly string[];
}

export interface RunningDashboard {
  /** e.g. http://127.0.0.1:7070/ */
  readonly url: string;
  readonly queuesUrl: string;
  close(): Promise<void>;
}

export const QUEUES_PATH = '/queues';
/** A Redis that does not answer in this long gets the page a 503 (and a banner) instead of a hung request. */
const REDIS_ANSWER_MS = 5_000;

const LOOPBACK = ['127.0.0.1', 'localhost', '::1', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/** The Host names (without port) this server answers to. */
function hostNames(bound: string, extra: readonly string[]): Set<string> {
  const names = new Set([...LOOPBACK, ...extra].map((h) => h.toLowerCase()));
  const b = bound.toLowerCase();
  names.add(b.includes(':') && !b.startsWith('[') ? `[${b}]` : b);
  if (!LOOPBACK.includes(b)) {
    // Listening beyond loopback: this machine's name and addresses too (what a colleague types).
    names.add(os.hostname().toLowerCase());
    for (const addrs of Object.values(os.networkInterfaces())) {
      for (const a of addrs ?? []) if (WILDCARD.has(b) || a.address === b) names.add(a.family === 'IPv6' ? `[${a.address.toLowerCase()}]` : a.address);
    }
  }
  return names;
}

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const jobs = jobsQueue(opts.redis);
  const queues = [jobs, controlQueue(opts.redis)];
  const app = express();
  app.disable('x-powered-by');
  app.use(hostCheck(hostNames(opts.host, opts.allowHosts ?? [])));
  app.use(QUEUES_PATH, queueBoard(queues));
  app.get('/', (_req, res) => {
    const nonce = randomBytes(16).toString('base64');
    res.setHeader('Content-Security-Policy', `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`);
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(dashboardPage({ redisLabel: opts.redisLabel, queuesPath: QUEUES_PATH, pollMs: opts.pollMs ?? 2_000, nonce }));
  });
  app.get('/api/runs', (_req, res, next) => json(res, next, () => listRuns(opts, jobs), opts.redis));
  app.get('/api/runs/:id', (req, res, next) => {
    json(res, next, () => runSnapshot(opts.redis, String(req.params.id), undefined, () => queueStats(jobs)), opts.redis);
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // One line of what went wrong, never a stack trace.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  const server = await listen(app, opts).catch(async (err: unknown) => {
    await Promise.all(queues.map((q) => q.close()));
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${shownHost}:${port}/`;
  return {
    url,
    queuesUrl: `${url}${QUEUES_PATH.slice(1)}/`,
    async close() {
      const closed = once(server, 'close');
      server.close();
      // The page keeps its connection alive between polls: end those too, or close waits for them.
      server.closeAllConnections();
      await closed;
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}

/** Refuses a request whose Host is not a name of this server (see the top of this file). */
function hostCheck(allowed: ReadonlySet<string>): express.RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // Only the name: an SSH tunnel may well bring the page to another local port.
    const name = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!allowed.has(name)) {
      res.status(403).type('text/plain').send(`omni-batch dashboard: this Host (${name || 'none'}) is refused; open it as http://127.0.0.1:PORT/, or start the dashboard with --allow-host ${name || 'NAME'}\n`);
      return;
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  };
}

/** Bull Board over the queues, read-only (see the top of this file). */
function queueBoard(queues: Queue[]): express.Router {
  const board = new ExpressAdapter();
  board.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'omni-batch queues', miscLinks: [{ text: 'Runs', url: '/' }] } },
  });
  return board.getRouter() as express.Router;
}

/** The newest runs (up to maxRuns, default 20) without their latest rows, and the shared queue's numbers. */
async function listRuns(opts: DashboardOptions, jobs: Queue): Promise<{ redis: string; queue: QueueSummary | null; runs: RunSummary[] }> {
  const ids = await listRunIds(opts.redis, opts.maxRuns ?? 20);
  const runs: RunSummary[] = [];
  // The shared queue's numbers come with each run's; with no run there is nothing to show.
  let queue: QueueSummary | null = null;
  // The queue's numbers are the same for every run: asked once per request, on the board's own Queue.
  let stats: Promise<QueueStats> | undefined;
  const shared = () => (stats ??= queueStats(jobs));
  for (const id of ids) {
    try {
      const s = await runSnapshot(opts.redis, id, 0, shared);
      const { latest: _latest, ...summary } = s.run;
      runs.push(summary);
      queue = s.queue;
    } catch (err) {
      // A run whose keys were deleted by hand: leave it out.
      if (!(err instanceof ConfigError)) throw err;
    }
  }
  return { redis: opts.redisLabel, queue, runs };
}

/** Listens on --host/--port; a place it cannot listen on is a ConfigError that says which and why. */
async function listen(app: express.Express, opts: Pick<DashboardOptions, 'host' | 'port'>): Promise<Server> {
  const server: Server = app.listen(opts.port, opts.host);
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
    return server;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ConfigError(`--port ${opts.port}: ${opts.host}:${opts.port} is in use; pick another port (--port 0 picks a free one)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EACCES')
      throw new ConfigError(`--host ${opts.host} / --port ${opts.port}: cannot listen there (${code}); the default is 127.0.0.1`);
    throw err;
  }
}

/** Answers with what `fn` returns; a run that is not there is a 404, a Redis that does not answer a 503. */
function json(res: Response, next: NextFunction, fn: () => Promise<unknown>, redis: RedisClient): void {
  // While Redis is away, answer at once: queued commands would pile up with every poll and all run on reconnect.
  if (redis.status !== 'ready') {
    res.status(503).json({ error: `Redis is not connected (${redis.status}); the page tries again` });
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisSilent()), REDIS_ANSWER_MS);
  });
  Promise.race([fn(), timeout])
    .then((body) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json(body);
    })
    .catch((err: unknown) => {
      if (err instanceof ConfigError) res.status(404).json({ error: err.message });
      else if (err instanceof RedisSilent) res.status(503).json({ error: err.message });
      else next(err);
    })
    .finally(() => clearTimeout(timer));
}

class RedisSilent extends Error {
  constructor() {
    super(`Redis did not answer in ${REDIS_ANSWER_MS / 1000} s`);
  }
}
