/**
 * The repository's root folder, found by walking up from a module to the nearest package.json: the same answer
 * whether the module runs from its .ts source (tsx) or compiled into build/ (the tests run compiled, see
 * package.json's test:unit).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function projectRoot(moduleUrl: string): string {
  for (let dir = path.dirname(fileURLToPath(moduleUrl)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
  }
}
