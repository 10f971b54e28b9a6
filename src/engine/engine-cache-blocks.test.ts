/**
 * Attention KV in shared 16-token blocks, snapshots in their own budget, branch-point snapshots (tests/golden/dense,
 * hybrid M*M-M-*M). Every output is compared with the cacheless single-sequence reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContextCache, defaultSnapshotShare } from '../cache/context-cache.js';
import { parseModelConfig } from '../formats/config.js';
import { tinyConfigJson } from '../testing/tiny-model.js';
import { stateBytes } from '../model/state.js';
import { collect, goldenDense, randomPrompt, reference, request } from '../testing/engine-fixtures.js';
import { LocalEngine } from './engine.js';
import type { Usage } from './service.js';

const loaded = goldenDense();
const cfg = loaded.model.config;
const V = cfg.vocabSize;
const live = (): AbortSignal => new AbortController().signal;
const MiB = 1 << 20;
const cachedOf = (ev: unknown): number => (ev as { usage: Usage }).usage.cachedTokens;

async function check(engine: LocalEngine, prompt: number[], label: string, maxTokens = 4): Promise<number> {
  const r = request(prompt, { maxTokens, ignoreEos: true });
  const got = await collect(engine.submit(r, live()));
  assert.deepEqual(got.tokens, reference(loaded, r).tokens, label);
  return cachedOf(got.last);
}

test('kv blocks: snapshots of one prefix share its KV blocks (RAM grows by blocks, not by copies)', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB });
  const engine = new LocalEngine(loaded, { cache });
  const prompt = randomPrompt(11, 600, V); // grid snapshots at 256 and 512, prompt end at 599, turn end at 603 (4 tokens generated, 3 fed)
  await check(engine, prompt, 'first');
  const s = cache.stats();
  const ram = s.tiers[0]!;
  assert.equal(ram.kvEntries, Math.floor(603 / 16), 'one entry per full 16-token block, shared by all four snapshots');
  const perToken = stateBytes(cfg, 1).perToken;
  assert.ok(ram.kvBytes < 1.05 * 600 * perToken, `KV bytes ${ram.kvBytes} ≈ one copy of 600 rows (${600 * perToken})`);
  const fullCopies = [256, 512, 599, 603].reduce((a, p) => a + p * perToken, 0);
  assert.ok(ram.kvBytes + ram.bytes < 0.6 * fullCopies + 4 * stateBytes(cfg, 0).fixed, 'blocks save the per-snapshot KV copies');
  assert.equal(await check(engine, [...prompt.slice(0, 530), 7, 8, 9], 'diverging after the 512 grid point'), 512);
});

test('kv blocks: separate budgets — a small snapshot pool evicts snapshots, not the KV blocks', async () => {
  const fixed = stateBytes(cfg, 0).fixed;
  const cache = await ContextCache.open(loaded.model, { ramBytes: 40 * fixed, snapshotShare: 0.1 }); // ~4 snapshots
  const engine = new LocalEngine(loaded, { cache });
  for (let i = 0; i < 6; i++) await check(engine, randomPrompt(100 + i, 40, V), `prompt ${i}`);
  const ram = cache.stats().tiers[0]!;
  assert.ok(ram.evictions > 0 && ram.bytes <= ram.capacityBytes, 'snapshot evictions within the snapshot budget');
  assert.equal(ram.kvEvictions, 0, 'the KV pool had room');
  assert.ok(ram.kvCapacityBytes > 8 * ram.capacityBytes);
});

test('kv blocks: when a block is evicted the snapshots that need it go too; outputs stay identical', async () => {
  const kvPool = 90 * stateBytes(cfg, 1).perToken; // room for 5 of the 80-token prompt's blocks, not 10
  const snapPool = 8 * stateBytes(cfg, 0).fixed; // room for every snapshot
  const cache = await ContextCache.open(loaded.model, { ramBytes: kvPool + snapPool, snapshotShare: snapPool / (kvPool + snapPool) });
  const engine = new LocalEngine(loaded, { cache });
  const a = randomPrompt(201, 80, V);
  const b = randomPrompt(202, 80, V);
  await check(engine, a, 'a');
  await check(engine, b, 'b (pushes a\'s blocks out of the KV pool)');
  assert.ok(cache.stats().tiers[0]!.kvEvictions > 0);
  assert.equal(cache.stats().tiers[0]!.evictions, 0, 'no snapshot was evicted for lack of room');
  assert.equal(cache.stats().snapshots, 2, 'only b\'s prompt-end and turn-end snapshots remain');
  assert.equal(await check(engine, [...a, 5, 6], 'a again'), 0, 'a\'s snapshots went with their blocks: a clean miss, not a wrong state');
});

test('kv blocks: a branch point gets a snapshot, so the next branch from it hits there', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB });
  const engine = new LocalEngine(loaded, { cache });
  const trunk = randomPrompt(300, 100, V); // a shared system prompt + tools, say
  const branch = (seed: number): number[] => [...trunk, ...randomPrompt(seed, 40, V).slice(1)];
  await check(engine, branch(1), 'first branch', 2);
  // The first branch left snapshots at 138 (prompt end) and 140 (turn end) only; the trunk's blocks are cached.
  assert.equal(await check(engine, branch(2), 'second branch', 2), 0, 'no snapshot inside the trunk yet');
  assert.ok(cache.stats().branchPoints >= 1, 'the KV-covered trunk was reported as a branch point');
  assert.equal(await check(engine, branch(3), 'third branch', 2), 96, 'restored at the trunk\'s last full block');
});

test('kv blocks: a corrupt KV block on disk is a miss, never a wrong answer; restart restores blocks from disk', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-kvblocks-'));
  try {
    const first = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB, disk: { dir, bytes: 64 * MiB } });
    const prompt = randomPrompt(401, 70, V);
    await check(new LocalEngine(loaded, { cache: first }), prompt, 'first');
    await first.flush();
    const kvFiles = readdirSync(join(dir, 'kv'));
    assert.equal(kvFiles.length, 4, '70 tokens → 4 full blocks on disk');
    const restarted = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB, disk: { dir, bytes: 64 * MiB } });
    assert.equal(await check(new LocalEngine(loaded, { cache: restarted }), [...prompt, 3, 4], 'after restart'), 69, 'the prompt-end snapshot');
    assert.equal(restarted.stats().tiers[1]!.kvHitBlocks, 4, 'all four blocks came from disk');
    await restarted.flush();
    for (const f of kvFiles) {
      const file = join(dir, 'kv', f);
      const buf = readFileSync(file);
      buf[buf.length - 40]! ^= 0x10;
      writeFileSync(file, buf);
    }
    const corrupt = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB, disk: { dir, bytes: 64 * MiB } });
    assert.equal(await check(new LocalEngine(loaded, { cache: corrupt }), [...prompt, 3, 4], 'after corruption'), 0);
    assert.ok(corrupt.stats().tiers[1]!.kvCorrupt >= 1);
    await corrupt.flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kv blocks: the default snapshot share follows the model (one snapshot per 256 tokens of KV), clamped to [0.1, 0.9]', () => {
  const share = (pattern: string, over: Record<string, number> = {}): number => defaultSnapshotShare(parseModelConfig({ ...tinyConfigJson(pattern, 300, 512), ...over }));
  const fixed = stateBytes(cfg, 0).fixed;
  const per = stateBytes(cfg, 1).perToken;
  assert.equal(defaultSnapshotShare(cfg), Math.max(0.1, fixed / (fixed + 256 * per)));
  assert.equal(share('M-M-M-M*', { mamba_num_heads: 64, ssm_state_size: 128 }), 0.9, 'Mamba-heavy: snapshots dominate');
  assert.equal(share('*-*-'), 0.1, 'no Mamba layer: almost all KV');
});
