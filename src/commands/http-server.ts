/**
 * What the local web pages (`omni-batch dashboard`, `omni-batch review`) share: the Host check, listening on
 * --host/--port with one clear error, the page's security headers, the printed URL and closing.
 *
 * Requests whose Host header is not a name of this server (loopback, the address it was bound to, this machine's
 * name and addresses, --allow-host) are refused, so a web page cannot read the server through a DNS-rebound name,
 * whatever address it listens on.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Io } from './io.js';
import { ConfigError } from '../shared/errors.js';

const LOOPBACK = ['127.0.0.1', 'localhost', '::1', '[::1]'];
const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/** The Host names (without port) a server bound to `bound` answers to. */
export function hostNames(bound: string, extra: readonly string[]): Set<string> {
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

/** Refuses a request whose Host is not a name of this server (see the top of this file); `command` names it in the refusal. */
export function hostCheck(allowed: ReadonlySet<string>, command: string): express.RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // Only the name: an SSH tunnel may well bring the page to another local port.
    const name = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!allowed.has(name)) {
      res.status(403).type('text/plain').send(`omni-batch ${command}: this Host (${name || 'none'}) is refused; open it as http://127.0.0.1:PORT/, or start it with --allow-host ${name || 'NAME'}\n`);
      return;
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  };
}

/** The headers of a page whose only script carries `nonce`; `media`: it may play audio and video from this server. */
export function pageHeaders(res: Response, nonce: string, media = false): void {
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; img-src 'self' data:;${media ? " media-src 'self';" : ''} base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  );
  res.setHeader('Cache-Control', 'no-store');
}

/** Listens on --host/--port; a place it cannot listen on is a ConfigError that says which and why. */
export async function listen(app: express.Express, opts: { readonly host: string; readonly port: number }): Promise<Server> {
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

/** The URL to print for a server listening on `host`: e.g. http://127.0.0.1:7070/ */
export function serverUrl(server: Server, host: string): string {
  const port = (server.address() as AddressInfo).port;
  const shownHost = WILDCARD.has(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${port}/`;
}

/** Stops listening and ends the connections the page keeps alive between requests (or close waits for them). */
export async function closeServer(server: Server): Promise<void> {
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

/** The last handlers of a page's server: a 404 for any other path, and an error as one line (never a stack trace). */
export function endHandlers(app: express.Express, statusOf: (err: Error) => number = () => 500): void {
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(statusOf(err)).json({ error: err.message });
  });
}

/** Serves until Ctrl-C / SIGTERM, after printing where (and a warning when `host` is beyond this machine). */
export async function serveUntilStopped(io: Io, command: string, host: string, said: string): Promise<void> {
  io.out(`omni-batch ${command}: ${said}; Ctrl-C stops it`);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
    io.err(`omni-batch ${command}: listening on ${host}: the page has no login, and anyone who can reach it sees file paths and answers${command === 'review' ? ', and can edit them' : ''}`);
  }
  await new Promise<void>((resolve) => {
    const remove = io.onSignal?.(() => {
      remove?.();
      resolve();
    });
  });
}
