/**
 * `omni-batch dashboard`: serves the runs page and Bull Board for a Redis until Ctrl-C / SIGTERM. Thin: it
 * validates the flags, opens Redis (one clear line and exit 2 when it cannot), starts the server, prints the URL.
 */
import { EXIT } from '../shared/errors.js';
import { connectRedis, describeRedisUrl } from '../engine/bullmq/connection.js';
import { DASHBOARD_DEFAULTS } from './dashboard/defaults.js';
import { startDashboard } from './dashboard/server.js';
import { serveUntilStopped } from './http-server.js';
import { redisUrl } from './redis-url.js';
import type { Io } from './run.js';

export interface DashboardFlags {
  redis?: string;
  /** Default 7070; 0 picks a free port. Checked by commander. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** More Host names the page answers to (repeatable). */
  allowHost?: string[];
}

export async function dashboardCommand(flags: DashboardFlags, io: Io): Promise<number> {
  const port = flags.port ?? DASHBOARD_DEFAULTS.port;
  const host = flags.host ?? DASHBOARD_DEFAULTS.host;
  const url = redisUrl(flags.redis, io.env);
  // Read-only: a Redis that may evict keys is not refused here (producers, workers and collect refuse it).
  const redis = await connectRedis(url, { requireNoEviction: false });
  try {
    const dashboard = await startDashboard({ redis, redisLabel: describeRedisUrl(url), host, port, allowHosts: flags.allowHost ?? [] });
    await serveUntilStopped(io, 'dashboard', host, `${dashboard.url} (queues: ${dashboard.queuesUrl})`);
    await dashboard.close();
    return EXIT.ok;
  } finally {
    redis.disconnect();
  }
}
