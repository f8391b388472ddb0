/**
 * The dashboard's web server: Bull Board for the queues, our runs page, and the JSON the page polls.
 *
 * Bull Board (express adapter) is mounted read-only: removing or cleaning a job by hand would leave its run
 * waiting forever for a row that no worker will write. Requests under a Host that is not a name of this server
 * are refused (http-server.ts).
 */
import { randomBytes } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Response } from 'express';
import type { RedisClient } from '../../engine/bullmq/connection.js';
import { ConfigError } from '../../shared/errors.js';
import { controlQueue, jobsQueue } from '../../engine/bullmq/queues.js';
import { queueStats, type QueueStats } from '../../engine/bullmq/status.js';
import { listRunIds, runSnapshot, type QueueSummary, type RunSummary } from '../../engine/bullmq/snapshot.js';
import { closeServer, endHandlers, hostCheck, hostNames, listen, pageHeaders, serverUrl } from '../http-server.js';
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

export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const jobs = jobsQueue(opts.redis);
  const queues = [jobs, controlQueue(opts.redis)];
  const app = express();
  app.disable('x-powered-by');
  app.use(hostCheck(hostNames(opts.host, opts.allowHosts ?? []), 'dashboard'));
  app.use(QUEUES_PATH, queueBoard(queues));
  app.get('/', (_req, res) => {
    const nonce = randomBytes(16).toString('base64');
    pageHeaders(res, nonce);
    res.type('html').send(dashboardPage({ redisLabel: opts.redisLabel, queuesPath: QUEUES_PATH, pollMs: opts.pollMs ?? 2_000, nonce }));
  });
  app.get('/api/runs', (_req, res, next) => json(res, next, () => listRuns(opts, jobs), opts.redis));
  app.get('/api/runs/:id', (req, res, next) => {
    json(res, next, () => runSnapshot(opts.redis, String(req.params.id), undefined, () => queueStats(jobs)), opts.redis);
  });
  endHandlers(app);
  const server = await listen(app, opts).catch(async (err: unknown) => {
    await Promise.all(queues.map((q) => q.close()));
    throw err;
  });
  const url = serverUrl(server, opts.host);
  return {
    url,
    queuesUrl: `${url}${QUEUES_PATH.slice(1)}/`,
    async close() {
      await closeServer(server);
      await Promise.all(queues.map((q) => q.close()));
    },
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
