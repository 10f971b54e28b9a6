/**
 * LocalEngine with the context cache on tests/golden/dense (hybrid M*M-M-*M): greedy outputs are bit-identical
 * with the cache on and off, over multi-turn conversations, after evictions, after a restart from disk, and under
 * concurrent requests sharing a prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContextCache } from '../cache/context-cache.js';
import { collect, goldenDense, randomPrompt, reference, request } from '../testing/engine-fixtures.js';
import { LocalEngine } from './engine.js';
import type { Usage } from './service.js';

const loaded = goldenDense();
const V = loaded.model.config.vocabSize;
const live = (): AbortSignal => new AbortController().signal;
const MiB = 1 << 20;
const usageOf = (ev: unknown): Usage => (ev as { usage: Usage }).usage;

/** Three turns: each prompt = previous prompt + reply + a new user message. Returns per-turn tokens and usage. */
async function conversation(engine: LocalEngine, seed: number): Promise<{ tokens: number[][]; usage: Usage[]; prompts: number[][] }> {
  let prompt = randomPrompt(seed, 40, V);
  const out = { tokens: [] as number[][], usage: [] as Usage[], prompts: [] as number[][] };
  for (let turn = 0; turn < 3; turn++) {
    const req = request(prompt, { maxTokens: 8, ignoreEos: true });
    const got = await collect(engine.submit(req, live()));
    out.tokens.push(got.tokens);
    out.usage.push(usageOf(got.last));
    out.prompts.push(prompt);
    prompt = [...prompt, ...got.tokens, ...randomPrompt(seed + turn + 1, 12, V).slice(1)];
  }
  return out;
}

test('cache engine: greedy multi-turn outputs are identical with the cache on and off; turn 2 hits the turn-1 tokens', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB });
  const on = await conversation(new LocalEngine(loaded, { cache }), 500);
  const off = await conversation(new LocalEngine(loaded), 500);
  assert.deepEqual(on.tokens, off.tokens);
  for (const [i, p] of on.prompts.entries()) assert.deepEqual(on.tokens[i], reference(loaded, request(p, { maxTokens: 8, ignoreEos: true })).tokens);
  assert.equal(on.usage[0]!.cachedTokens, 0);
  for (const t of [1, 2]) {
    const prev = on.prompts[t - 1]!.length + on.tokens[t - 1]!.length - 1; // the last reply token was never fed
    assert.equal(on.usage[t]!.cachedTokens, prev, `turn ${t + 1}`);
  }
  assert.deepEqual(off.usage.map((u) => u.cachedTokens), [0, 0, 0]);
  const s = cache.stats();
  assert.equal(s.hits, 2);
  assert.ok(s.tiers[0]!.snapshotHits === 2 && s.tiers[0]!.hitTokens > 0);
});

test('cache engine: an identical resend hits at length − 1 and gives the same tokens', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB });
  const engine = new LocalEngine(loaded, { cache });
  const prompt = randomPrompt(77, 300, V); // crosses the 256 grid
  const a = await collect(engine.submit(request(prompt, { maxTokens: 6 }), live()));
  const b = await collect(engine.submit(request(prompt, { maxTokens: 6 }), live()));
  assert.deepEqual(a.tokens, b.tokens);
  assert.equal(usageOf(b.last).cachedTokens, prompt.length - 1, 'the snapshot one token before the end of the prompt');
  const shorter = [...prompt.slice(0, 280), 5, 6, 7];
  const c = await collect(engine.submit(request(shorter, { maxTokens: 6 }), live()));
  assert.equal(usageOf(c.last).cachedTokens, 256, 'diverging inside the interval falls back to the grid snapshot');
  assert.deepEqual(c.tokens, reference(loaded, request(shorter, { maxTokens: 6 })).tokens);
});

test('cache engine: identical outputs after evictions (tiny RAM budget)', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 200_000, snapshotShare: 0.5 });
  const on = await conversation(new LocalEngine(loaded, { cache }), 600);
  const off = await conversation(new LocalEngine(loaded), 600);
  assert.deepEqual(on.tokens, off.tokens);
  assert.ok(cache.stats().tiers[0]!.evictions > 0, 'the budget should have forced evictions');
  assert.ok(cache.stats().tiers[0]!.bytes <= 200_000);
});

test('cache engine: after a restart, the disk tier still serves hits with identical outputs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-engine-cache-'));
  try {
    const first = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB, disk: { dir, bytes: 64 * MiB } });
    const prompt = randomPrompt(901, 60, V);
    const a = await collect(new LocalEngine(loaded, { cache: first }).submit(request(prompt, { maxTokens: 6, ignoreEos: true }), live()));
    await first.flush();
    const second = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB, disk: { dir, bytes: 64 * MiB } });
    assert.ok(second.stats().snapshots >= 2, 're-indexed from the directory');
    const next = [...prompt, ...a.tokens, 9, 10, 11];
    const req = request(next, { maxTokens: 6, ignoreEos: true });
    const b = await collect(new LocalEngine(loaded, { cache: second }).submit(req, live()));
    assert.equal(usageOf(b.last).cachedTokens, prompt.length + a.tokens.length - 1);
    assert.deepEqual(b.tokens, reference(loaded, req).tokens);
    const disk = second.stats().tiers[1]!;
    assert.equal(disk.snapshotHits, 1);
    await second.flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cache engine: concurrent requests sharing a prefix do not corrupt each other', async () => {
  const cache = await ContextCache.open(loaded.model, { ramBytes: 64 * MiB });
  const engine = new LocalEngine(loaded, { cache, maxStepTokens: 32 });
  const shared = randomPrompt(321, 50, V);
  await collect(engine.submit(request(shared, { maxTokens: 1 }), live()));
  const reqs = Array.from({ length: 6 }, (_, i) => request([...shared, ...randomPrompt(400 + i, 5 + 3 * i, V).slice(1)], { maxTokens: 8, ignoreEos: true }));
  const got = await Promise.all(reqs.map((r) => collect(engine.submit(r, live()))));
  for (const [i, r] of reqs.entries()) {
    assert.deepEqual(got[i]!.tokens, reference(loaded, r).tokens, `request ${i}`);
    assert.ok(usageOf(got[i]!.last).cachedTokens >= shared.length, `request ${i} hit the shared prefix`);
  }
  assert.equal(engine.stats().liveStates, 0);
});
