/**
 * Packages loaded on first use rather than at start-up: sharp (libvips, about 150 ms of CPU to load here) only
 * when a run meets an image, pino only for `--log json`, fast-glob only for a glob input, ajv only for a schema.
 * A text-only run, `--help` and a worker that never sees an image do not pay for them. Each is a CommonJS
 * package, so a synchronous require serves the synchronous call sites too.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** `load()` requires the package the first time it is called and returns the same module after. */
export function lazy<T>(name: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(name) as T);
}

/** sharp, loaded on the first image. */
export const sharp: (typeof import('sharp'))['default'] = ((...args: Parameters<(typeof import('sharp'))['default']>) =>
  lazySharp()(...args)) as (typeof import('sharp'))['default'];
const lazySharp = lazy<(typeof import('sharp'))['default']>('sharp');
