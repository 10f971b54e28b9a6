/** The prefix index alone (no model, no tiers): STYLE P12's pure-data-structure check. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK_TOKENS, blockHashes, namespaceOf, snapshotKey } from './block-hash.js';
import { PrefixIndex } from './prefix-index.js';

const seq = (n: number, seed = 0): number[] => Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 3) % 1000);
const NS = namespaceOf('model-a');
const positions = (refs: { position: number }[]): number[] => refs.map((r) => r.position);

test('index: insert then lookup finds the deepest snapshot, keys match snapshotKey', () => {
  const ix = new PrefixIndex();
  const t = seq(100);
  const k40 = ix.insert(NS, t, 40);
  ix.insert(NS, t, 16);
  ix.insert(NS, t, 77);
  assert.equal(k40, snapshotKey(NS, t, 40));
  assert.deepEqual(positions(ix.lookup(NS, t)), [77, 40, 16]);
  assert.equal(ix.insert(NS, t, 40), k40, 'idempotent');
  assert.equal(ix.size, 3);
});

test('index: namespaces never share (other model, other salt)', () => {
  const ix = new PrefixIndex();
  const t = seq(50);
  ix.insert(NS, t, 40);
  assert.deepEqual(ix.lookup(namespaceOf('model-b'), t), []);
  assert.deepEqual(ix.lookup(namespaceOf('model-a', 'tenant-1'), t), []);
  assert.notEqual(blockHashes(NS, t)[0], blockHashes(namespaceOf('model-a', 'tenant-1'), t)[0]);
  assert.deepEqual(positions(ix.lookup(NS, t)), [40]);
});

test('index: a prompt diverging inside a snapshot interval falls back to the last valid snapshot', () => {
  const ix = new PrefixIndex();
  const t = seq(600);
  for (const p of [256, 512, 600]) ix.insert(NS, t, p);
  for (const cut of [300, 256 + 1, 511, 517]) {
    const other = [...t.slice(0, cut), 999_999, ...t.slice(cut + 1)];
    assert.deepEqual(positions(ix.lookup(NS, other)), cut >= 512 ? [512, 256] : [256], `divergence at ${cut}`);
  }
  const early = [...t.slice(0, 255), 5, ...t.slice(256)];
  assert.deepEqual(ix.lookup(NS, early), [], 'diverging before the first snapshot: a miss');
});

test('index: an identical resend hits at length − 1 at most (the last token is recomputed)', () => {
  const ix = new PrefixIndex();
  const t = seq(45);
  ix.insert(NS, t, 45); // end of prompt
  assert.deepEqual(ix.lookup(NS, t), [], 'the full-length snapshot is unusable for the same prompt');
  ix.insert(NS, t, 44);
  assert.deepEqual(positions(ix.lookup(NS, t)), [44]);
  assert.deepEqual(positions(ix.lookup(NS, [...t, 7])), [45, 44], 'a longer prompt uses the full snapshot');
});

test('index: forks at many depths each get their own branch point', () => {
  const ix = new PrefixIndex();
  const base = seq(200);
  ix.insert(NS, base, 200);
  for (const d of [1, 15, 16, 17, 63, 64, 150, 199]) {
    const fork = [...base.slice(0, d), 5000 + d, 1, 2, 3];
    ix.insert(NS, fork, fork.length);
    assert.deepEqual(positions(ix.lookup(NS, [...fork, 9])), [fork.length], `fork at ${d}`);
  }
  assert.deepEqual(positions(ix.lookup(NS, [...base, 1])), [200]);
  assert.equal(ix.size, 9);
  for (const k of [...ix.lookup(NS, [...base, 1])]) ix.remove(k.key);
  assert.equal(ix.size, 8);
});

test('index: a prompt shorter than a block, and a whole prompt cached', () => {
  const ix = new PrefixIndex();
  const short = seq(7);
  ix.insert(NS, short, 6);
  assert.deepEqual(positions(ix.lookup(NS, short)), [6]);
  assert.deepEqual(ix.lookup(NS, [short[0]!]), [], 'a 1-token prompt never hits');
  const whole = seq(3 * BLOCK_TOKENS, 1);
  ix.insert(NS, whole, whole.length);
  assert.deepEqual(positions(ix.lookup(NS, [...whole, 1, 2])), [whole.length]);
});

test('index: remove prunes empty blocks', () => {
  const ix = new PrefixIndex();
  const t = seq(100);
  const k = ix.insert(NS, t, 99);
  assert.ok(ix.nodes > 5);
  assert.ok(ix.remove(k));
  assert.equal(ix.nodes, 0);
  assert.deepEqual(ix.lookup(NS, t), []);
});
