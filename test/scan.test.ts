import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Item } from '../src/producer/item.js';
import { scan, splitGlob } from '../src/producer/scan.js';
import { tempDir } from './helpers.js';

async function collect(opts: Parameters<typeof scan>[0]): Promise<Item[]> {
  const items: Item[] = [];
  for await (const item of scan(opts)) items.push(item);
  return items.sort((a, b) => a.path.localeCompare(b.path));
}

describe('scanning folders', () => {
  test('finds files in nested folders, keeping unicode, spaces, quotes and commas in names exactly', async () => {
    const dir = await tempDir();
    const names = ['a.jpg', 'sub/b c.png', 'sub/deep/"quoted", name.mp3', 'café ☕/ünï.txt'];
    for (const n of names) {
      await mkdir(path.dirname(path.join(dir, n)), { recursive: true });
      await writeFile(path.join(dir, n), 'x');
    }
    const items = await collect({ inputs: [dir], include: [], exclude: [], never: [], cwd: dir });
    assert.deepEqual(items.map((i) => i.path).sort(), [...names].sort());
    const deep = items.find((i) => i.path.endsWith('name.mp3'));
    assert.deepEqual(deep?.file, { name: '"quoted", name.mp3', relPath: 'sub/deep/"quoted", name.mp3', dir: 'sub/deep', ext: 'mp3' });
  });

  test('never yields hidden files, files in hidden folders, or the run\'s own output files', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, '.cache'));
    for (const n of ['.hidden.jpg', '.cache/x.jpg', 'out.csv', 'out.totals.json', 'keep.jpg']) await writeFile(path.join(dir, n), 'x');
    const items = await collect({ inputs: [dir], include: [], exclude: [], never: [path.join(dir, 'out.csv'), path.join(dir, 'out.totals.json')], cwd: dir });
    assert.deepEqual(items.map((i) => i.path), ['keep.jpg']);
  });

  test('applies include and exclude globs relative to the input folder, and glob inputs', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'a'));
    for (const n of ['a/1.jpg', 'a/2.png', 'a/skip.jpg', 'b.mp3']) await writeFile(path.join(dir, n), 'x');
    const inc = await collect({ inputs: [dir], include: ['**/*.jpg'], exclude: ['**/skip.*'], never: [], cwd: dir });
    assert.deepEqual(inc.map((i) => i.path), ['a/1.jpg']);
    const glob = await collect({ inputs: [path.join(dir, 'a', '*.png')], include: [], exclude: [], never: [], cwd: dir });
    assert.deepEqual(glob.map((i) => i.path), ['a/2.png']);
    assert.deepEqual(splitGlob('/data/photos/**/*.jpg'), { dir: '/data/photos', pattern: '**/*.jpg' });
    // A folder whose name looks like a pattern is a folder when it exists.
    await mkdir(path.join(dir, 'Photos [2020]'));
    await writeFile(path.join(dir, 'Photos [2020]', 'p.jpg'), 'x');
    const literal = await collect({ inputs: [path.join(dir, 'Photos [2020]')], include: [], exclude: [], never: [], cwd: dir });
    assert.deepEqual(literal.map((i) => i.path), ['Photos [2020]/p.jpg']);
  });

  test('follows symlinks inside the root and gives escaping, dangling and looping ones a skip reason', async () => {
    const base = await tempDir();
    const root = path.join(base, 'root');
    await mkdir(path.join(root, 'real'), { recursive: true });
    await writeFile(path.join(root, 'real', 'in.jpg'), 'x');
    await writeFile(path.join(base, 'outside.jpg'), 'x');
    await symlink(path.join(root, 'real', 'in.jpg'), path.join(root, 'link-in.jpg'));
    await symlink(path.join(base, 'outside.jpg'), path.join(root, 'link-out.jpg'));
    await symlink(path.join(root, 'missing.jpg'), path.join(root, 'dangling.jpg'));
    await symlink(path.join(root, 'loop-a.jpg'), path.join(root, 'loop-b.jpg'));
    await symlink(path.join(root, 'loop-b.jpg'), path.join(root, 'loop-a.jpg'));
    await symlink(root, path.join(root, 'real', 'up'));
    await symlink(path.join(root, 'real'), path.join(root, 'alias'));
    await mkdir(path.join(root, '.secret'));
    await writeFile(path.join(root, '.secret', 'h.jpg'), 'x');
    await symlink(path.join(root, '.secret'), path.join(root, 'visible'));
    await symlink(path.join(root, '.secret', 'h.jpg'), path.join(root, 'h-link.jpg'));
    const items = await collect({ inputs: [root], include: [], exclude: [], never: [], cwd: root });
    const by = Object.fromEntries(items.map((i) => [i.path, i.skip?.code ?? 'ok']));
    // in.jpg is reachable three ways (its folder, a folder link, a file link): one row is the file, the others say so.
    const ways = ['alias/in.jpg', 'link-in.jpg', 'real/in.jpg'].map((p) => by[p]).sort();
    assert.deepEqual(ways, ['duplicate', 'duplicate', 'ok']);
    assert.deepEqual(
      Object.fromEntries(Object.entries(by).filter(([p]) => !['alias/in.jpg', 'link-in.jpg', 'real/in.jpg'].includes(p))),
      {
        'alias/up': 'symlink_broken',
        'dangling.jpg': 'symlink_broken',
        'h-link.jpg': 'symlink_hidden',
        'link-out.jpg': 'symlink_escapes_root',
        'loop-a.jpg': 'symlink_broken',
        'loop-b.jpg': 'symlink_broken',
        'real/up': 'symlink_broken',
        visible: 'symlink_hidden',
      },
    );
    assert.match(items.find((i) => i.path === 'link-out.jpg')?.skip?.message ?? '', /outside the input root/);
  });
});
