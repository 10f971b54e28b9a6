/** The RAM and disk tiers with opaque entries (no model). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { namespaceOf, snapshotKey } from './block-hash.js';
import { DiskTier } from './disk-tier.js';
import { RamTier } from './ram-tier.js';
import { EvictionOrder } from './eviction.js';
import type { CacheEntry, EntryMeta } from './tier.js';

const NS = namespaceOf('m');
function entry(seed: number, bytes = 1000): CacheEntry {
  const tokens = Array.from({ length: 20 + seed }, (_, i) => i + seed * 1000);
  return { meta: { kind: 'snapshot', ns: NS, position: tokens.length, key: snapshotKey(NS, tokens, tokens.length), tokens }, bytes: new Uint8Array(bytes).fill(seed) };
}
const tmp = (): string => mkdtempSync(join(tmpdir(), 'tandem-cache-'));

test('ram tier: LRU eviction by bytes, refreshed on get, reported through onEvict', () => {
  const evicted: string[] = [];
  const ram = new RamTier({ capacityBytes: 3500, onEvict: (k) => evicted.push(k) });
  const [a, b, c, d] = [entry(1), entry(2), entry(3), entry(4)];
  for (const e of [a, b, c]) ram.put(e!);
  assert.ok(ram.get(a!.meta.key)); // a is now the most recent
  ram.put(d!);
  assert.deepEqual(evicted, [b!.meta.key]);
  assert.equal(ram.stats().bytes, 3000);
  assert.equal(ram.stats().evictions, 1);
  ram.put(entry(5, 10_000)); // larger than the whole budget: dropped, nothing evicted
  assert.equal(ram.stats().entries, 3);
});

test('disk tier: a new instance on the same directory still hits (restart)', async () => {
  const dir = tmp();
  try {
    const d1 = await DiskTier.open({ dir, capacityBytes: 1e6 });
    const e = entry(1);
    d1.put(e);
    assert.ok(d1.has(e.meta.key), 'pending writes count as held');
    await d1.flush();
    const d2 = await DiskTier.open({ dir, capacityBytes: 1e6 });
    assert.deepEqual(d2.entries().map((m) => m.key), [e.meta.key]);
    const got = await d2.get(e.meta.key);
    assert.deepEqual(got?.bytes, e.bytes);
    assert.deepEqual(got?.meta.tokens, e.meta.tokens);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk tier: a flipped byte or a truncated file is a miss and the file is removed', async () => {
  const dir = tmp();
  try {
    const d = await DiskTier.open({ dir, capacityBytes: 1e6 });
    const [a, b] = [entry(1), entry(2)];
    d.put(a);
    d.put(b);
    await d.flush();
    const fa = join(dir, `${a.meta.key}.tce`);
    const buf = readFileSync(fa);
    buf[buf.length - 100]! ^= 0x01;
    writeFileSync(fa, buf);
    truncateSync(join(dir, `${b.meta.key}.tce`), 700);
    truncateSync(join(dir, `${a.meta.key}.tce`), buf.length); // no-op size, flipped content
    const evicted: string[] = [];
    const evicting = await DiskTier.open({ dir, capacityBytes: 1e6, onEvict: (k) => evicted.push(k) });
    assert.equal(await evicting.get(a.meta.key), undefined, 'the flipped file is a miss');
    assert.equal(await evicting.get(b.meta.key), undefined, 'the truncated file is a miss');
    assert.deepEqual(evicted.sort(), [a.meta.key, b.meta.key].sort());
    assert.equal(evicting.has(a.meta.key) || evicting.has(b.meta.key), false);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(evicting.stats().corrupt, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk tier: a full budget evicts the oldest, never fails a put', async () => {
  const dir = tmp();
  try {
    const evicted: string[] = [];
    const d = await DiskTier.open({ dir, capacityBytes: 3 * 1400, onEvict: (k) => evicted.push(k) });
    const es = [1, 2, 3, 4, 5].map((i) => entry(i));
    for (const e of es) d.put(e);
    await d.flush();
    assert.ok(d.stats().bytes <= 3 * 1400);
    assert.ok(evicted.length >= 2);
    assert.equal(evicted[0], es[0]!.meta.key);
    assert.ok(await d.get(es[4]!.meta.key));
    assert.equal(readdirSync(dir).length, d.stats().entries);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const snap = (position: number, reason: EntryMeta['reason'] = 'prompt'): EntryMeta => ({ kind: 'snapshot', ns: NS, position, key: `k${position}${reason}`, tokens: [], reason });

test('eviction order: cost-aware (GDSF) evicts the cheapest recompute per byte first, and unread entries age out', () => {
  const o = new EvictionOrder('cost');
  o.add('short', snap(100), 1000);
  o.add('long', snap(2000), 1000);
  o.add('turn', snap(100, 'turn'), 1000); // turn ends get an admission prior of 2 uses
  assert.equal(o.victim(), 'short', 'least prefill saved per byte');
  o.evicted('short');
  assert.equal(o.victim(), 'turn');
  o.evicted('turn');
  // the clock is now at the evicted priority: a new cheap entry outranks the old expensive one only after enough evictions
  for (let i = 0; i < 30; i++) {
    o.add(`n${i}`, snap(1000), 1000);
    const v = o.victim()!;
    o.evicted(v);
  }
  assert.equal(o.size, 1, 'one entry survives the churn');
  assert.notEqual(o.victim(), 'long', 'the never-read expensive entry aged out under the rising clock');
});

test('eviction order: a hit raises an entry above an equal one; lru is insertion/touch order', () => {
  const o = new EvictionOrder('cost');
  o.add('a', snap(500), 1000);
  o.add('b', snap(500), 1000);
  o.touch('a');
  assert.equal(o.victim(), 'b');
  const l = new EvictionOrder('lru');
  l.add('a', snap(5000), 10);
  l.add('b', snap(1), 10);
  l.touch('a');
  assert.equal(l.victim(), 'b');
});

test('disk tier: open removes temp files of dead writers only (a live worker sharing the directory keeps its own)', async () => {
  const dir = tmp();
  try {
    const dead = join(dir, `${'a'.repeat(64)}.tce.999999999.tmp`);
    const mine = join(dir, `${'b'.repeat(64)}.tce.${process.pid}.tmp`);
    writeFileSync(dead, 'x');
    writeFileSync(mine, 'y');
    await DiskTier.open({ dir, capacityBytes: 1e6 });
    assert.deepEqual(readdirSync(dir), [`${'b'.repeat(64)}.tce.${process.pid}.tmp`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
