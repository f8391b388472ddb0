import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DigestSet } from '../src/shared/digest-set.js';

describe('DigestSet (one member per file, kept to the end of a run)', () => {
  test('add says whether a string is new, across many growths of the table, and has agrees', () => {
    const set = new DigestSet();
    const n = 50_000;
    for (let i = 0; i < n; i++) assert.equal(set.add(`photos/d${i % 97}/img${i}.jpg`), true, `first add of ${i}`);
    assert.equal(set.size, n);
    for (let i = 0; i < n; i += 7) assert.equal(set.add(`photos/d${i % 97}/img${i}.jpg`), false, `second add of ${i}`);
    assert.equal(set.size, n);
    for (let i = 0; i < n; i += 11) assert.equal(set.has(`photos/d${i % 97}/img${i}.jpg`), true);
    // Near misses are not members: one character more, less or different.
    for (const s of ['photos/d0/img0.jpg ', 'photos/d0/img0.jp', 'photos/d1/img0.jpg', '', 'img0.jpg']) assert.equal(set.has(s), false, JSON.stringify(s));
    assert.equal(set.add(''), true);
    assert.equal(set.add(''), false);
  });
});
