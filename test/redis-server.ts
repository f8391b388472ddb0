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

export interface RedisOptions {
  /** More redis-server arguments (they win over the defaults: `--maxmemory-policy allkeys-lru`). */
  readonly args?: readonly string[];
  /** requirepass: the URL carries it, as `redis://:PASSWORD@...`. */
  readonly password?: string;
  /** false: no AOF, so that stop() and start() give an empty Redis (a restart that lost everything). Default true. */
  readonly persist?: boolean;
}

export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  // Its own folder, removed by close(): it must outlive the hooks of whichever test started it.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-redis-'));
  const port = await freePort();
  const persist = opts.persist ?? true;
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction'],
    ...(persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(opts.password ? ['--requirepass', opts.password] : []),
    ...(opts.args ?? []),
  ];
  const password = opts.password;
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];
  const start = async () => {
    proc = spawn('redis-server', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const ready = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
    url: `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}`,
    port,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', password, maxRetriesPerRequest: null });
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

export interface TestCluster {
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3` */
  readonly url: string;
  readonly nodes: readonly TestRedis[];
  close(): Promise<void>;
}

/** A real 3-node Redis Cluster (masters only) on free ports, every slot assigned, with redis-cli --cluster create. */
export async function startCluster(): Promise<TestCluster> {
  const nodes: TestRedis[] = [];
  for (let i = 0; i < 3; i++) {
    // Each node's cluster state file lives in its own folder (--dir), so the name can be the same.
    nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
  }
  const hosts = nodes.map((n) => `127.0.0.1:${n.port}`);
  const create = spawn('redis-cli', ['--cluster', 'create', ...hosts, '--cluster-replicas', '0', '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  create.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  create.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const [code] = (await once(create, 'exit')) as [number | null];
  const close = async () => void (await Promise.all(nodes.map((n) => n.close())));
  if (code !== 0) {
    await close();
    throw new Error(`redis-cli --cluster create failed:\n${log}`);
  }
  // Every node must agree that the cluster is up before a client can rely on its slots.
  const end = Date.now() + 20_000;
  for (const n of nodes) {
    const c = n.client();
    while (!/cluster_state:ok/.test(await c.cluster('INFO'))) {
      if (Date.now() > end) throw new Error(`the cluster did not come up:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url: `redis+cluster://${hosts.join(',')}`, nodes, close };
}
