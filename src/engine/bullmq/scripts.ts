/**
 * The Lua scripts of the distributed engine, each in its own file under lua/, registered on a connection with
 * ioredis `defineCommand`: ioredis sends a script's text once per connection and calls it by its SHA after that
 * (and sends the text again by itself if the server forgot it, SCRIPT FLUSH or a restart).
 *
 * `withScripts(redis)` registers them once per connection (again is a no-op) and gives typed calls back, so no
 * caller, a test's client included, has to remember to register them or deal in untyped methods.
 */
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

/** A script's file under lua/ and how many of its arguments are keys. */
const SCRIPTS = {
  omniBatchPause: { file: 'pause.lua', keys: 1 },
  omniBatchWait: { file: 'wait.lua', keys: 1 },
  omniBatchAcquire: { file: 'acquire.lua', keys: 2 },
  omniBatchSettle: { file: 'settle.lua', keys: 1 },
  omniBatchSaveRow: { file: 'save-row.lua', keys: 7 },
  omniBatchAddPending: { file: 'add-pending.lua', keys: 2 },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number;

/** The scripts as methods of a connection (see the lua/ file of each for what its keys and arguments are). */
export interface Scripts {
  omniBatchPause(pauseKey: string, ms: number): Promise<number>;
  omniBatchWait(pauseKey: string): Promise<number>;
  omniBatchAcquire(requestTatKey: string, tokenTatKey: string, requestMs: number, tokensMs: number): Promise<number>;
  omniBatchSettle(tokenTatKey: string, deltaMs: number): Promise<number>;
  omniBatchSaveRow(
    rowsKey: string,
    totalsKey: string,
    pendingKey: string,
    metaKey: string,
    latestKey: string,
    examplesKey: string,
    journalKey: string,
    path: string,
    json: string,
    bullId: string,
    latestCap: number,
    usageFields: string,
    journalCap: number,
  ): Promise<number>;
  /** `triples`: path, job id, queue job id, flattened. */
  omniBatchAddPending(rowsKey: string, pendingKey: string, ...triples: string[]): Promise<number>;
}

// Read once per process. The build copies lua/ next to this module in dist/, so the same relative URL works there.
const lua = Object.fromEntries(
  Object.entries(SCRIPTS).map(([name, s]) => [name, readFileSync(new URL(`./lua/${s.file}`, import.meta.url), 'utf8')]),
) as Record<ScriptName, string>;

/** `redis` with the scripts registered on it (once; a connection that has them is returned as it is). */
export function withScripts(redis: RedisClient): RedisClient & Scripts {
  const methods = redis as unknown as Partial<Record<ScriptName, (...args: Arg[]) => Promise<unknown>>>;
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    if (typeof methods[name] !== 'function') redis.defineCommand(name, { lua: lua[name], numberOfKeys: SCRIPTS[name].keys });
  }
  return redis as RedisClient & Scripts;
}
