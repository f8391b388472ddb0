/**
 * A real redis-server for the tests, on a free port, with its own folder and AOF on, so a test can stop and
 * restart it. The machine's Redis on 6379 is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** A client for assertions (closed by stop()). */
  client(): Redis;
  /** Stops the server (SIGTERM: the AOF is flushed) and waits for it to exit. */
  stop(): Promise<void>;
  /** Closes the test's clients and stops the server. */
  close(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
}

/** A port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, 'close');
  return port;
}

export async function startRedis(): Promise<TestRedis> {
  // Its own folder, removed by close(): it must outlive the hooks of whichever test started it.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-redis-'));
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const ready = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > ready) throw new Error(`redis-server did not start on ${port}:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    stop,
    async close() {
      for (const c of clients.splice(0)) c.disconnect();
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    start,
  };
}
