/** omni-batch's own version, from its package.json (dist/ and build/src/ sit one and two folders below it). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'omni-batch' && pkg.version) return pkg.version;
    } catch {
      // not this folder: look one up
    }
  }
  return 'unknown';
}
