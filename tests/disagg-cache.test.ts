/**
 * The context cache behind a disaggregated frontend: spawned decode workers on tests/golden/dense (127.0.0.1) with
 * caches, cache-aware routing (probe → lowest (prompt − cached) + loadWeight × inflight), and snapshot sharing
 * through one disk directory. Greedy outputs must equal an in-process LocalEngine without a cache.
 * Services are closed in `after` (which stops their workers); the disk directory is removed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalEngine } from '../src/engine/engine.js';
import { loadModel } from '../src/engine/load-model.js';
import type { GenerationRequest, InferenceService } from '../src/engine/service.js';
import { DEFAULT_SAMPLING } from '../src/model/sample.js';
import { RESCAN_MS } from '../src/cache/disk-tier.js';
import { startDisaggregated, type DisaggregatedService } from '../src/serving/disagg/frontend.js';
import { goldenDir } from '../src/testing/golden.js';

const MODEL = join(goldenDir(), 'dense');
const local = new LocalEngine(loadModel(MODEL));

function prompt(seed: number, len: number): number[] {
  return Array.from({ length: len }, (_, i) => 3 + ((seed * 131 + i * 37) % 450));
}

const req = (id: string, p: readonly number[], maxTokens = 6): GenerationRequest => ({ id, prompt: p, sampling: DEFAULT_SAMPLING, maxTokens, stop: [], ignoreEos: true });

async function run(svc: InferenceService, r: GenerationRequest): Promise<{ tokens: number[]; cached: number }> {
  const tokens: number[] = [];
  let cached = -1;
  for await (const ev of svc.submit(r, new AbortController().signal)) {
    if (ev.type === 'token') tokens.push(ev.token);
    else if (ev.type === 'finish') cached = ev.usage.cachedTokens;
    else assert.fail(`request ${r.id} failed: ${JSON.stringify(ev)}`);
  }
  return { tokens, cached };
}

/** Run on the service and on the cacheless LocalEngine; outputs must match. */
async function expectSame(svc: InferenceService, r: GenerationRequest): Promise<{ tokens: number[]; cached: number }> {
  const [got, want] = await Promise.all([run(svc, r), run(local, r)]);
  assert.deepEqual(got.tokens, want.tokens, `request ${r.id}: tokens differ from a LocalEngine without cache`);
  return got;
}

/** decodeLocal count per decode worker id (fresh). */
async function servedBy(svc: DisaggregatedService): Promise<Map<string, number>> {
  await svc.refreshStats();
  return new Map(svc.workers().filter((w) => w.role === 'decode').map((w) => [w.id, w.snapshot?.served.decodeLocal ?? 0]));
}

async function whoServed(svc: DisaggregatedService, before: Map<string, number>): Promise<string> {
  const now = await servedBy(svc);
  const ids = [...now].filter(([id, n]) => n > (before.get(id) ?? 0)).map(([id]) => id);
  assert.equal(ids.length, 1, `exactly one decode worker should have served, got ${ids.join(',')}`);
  return ids[0]!;
}

describe('disaggregated cache: 2 decode workers sharing a disk directory', () => {
  let svc: DisaggregatedService;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-disagg-cache-'));
  const blocked = new Map<string, string>(); // request id → decode worker it must not use (test hook)
  before(async () => {
    svc = await startDisaggregated({
      model: MODEL, prefillWorkers: 0, decodeWorkers: 2, threshold: 1 << 30, heartbeatMs: 200,
      cache: { enabled: true, ramBytes: 64 * 2 ** 20, disk: { dir, bytes: 256 * 2 ** 20 } },
      routeFilter: (r, id) => blocked.get(r.id) !== id,
    });
  });
  after(async () => {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('multi-turn equals LocalEngine, turn 2 hits, a resend on the other worker hits through the shared disk', async () => {
    const p1 = prompt(1, 40);
    let before = await servedBy(svc);
    const t1 = await expectSame(svc, req('turn-1', p1));
    assert.equal(t1.cached, 0);
    const x = await whoServed(svc, before);

    const p2 = [...p1, ...t1.tokens, ...prompt(2, 9)];
    before = await servedBy(svc);
    const t2 = await expectSame(svc, req('turn-2', p2));
    assert.ok(t2.cached > 0, `turn 2 should reuse turn 1's state, cached ${t2.cached}`);
    assert.equal(await whoServed(svc, before), x, 'turn 2 goes to the worker holding turn 1');

    // Let X's disk writes land and the other worker's rescan window reopen, then forbid X.
    await new Promise((r) => setTimeout(r, RESCAN_MS + 300));
    const y = [...(await servedBy(svc)).keys()].find((id) => id !== x)!;
    assert.equal((await servedBy(svc)).get(y), 0, 'the other worker has served nothing yet');
    blocked.set('resend', x);
    before = await servedBy(svc);
    const again = await expectSame(svc, req('resend', p2));
    assert.equal(await whoServed(svc, before), y);
    assert.equal(again.cached, p2.length - 1, 'the other worker restores the snapshot X wrote to the shared directory');
  });
});

describe('disaggregated cache: probe-based routing (RAM only)', () => {
  let svc: DisaggregatedService;
  const blocked = new Map<string, string>();
  before(async () => {
    svc = await startDisaggregated({
      model: MODEL, prefillWorkers: 0, decodeWorkers: 2, threshold: 1 << 30, heartbeatMs: 200, cache: { enabled: true },
      routeFilter: (r, id) => blocked.get(r.id) !== id,
    });
  });
  after(async () => {
    await svc?.close();
  });

  // The first request is pinned away from each worker in turn, so in one run the holder is not the tie-break winner.
  for (const avoid of ['decode-0', 'decode-1']) test(`with equal loads a resend goes to the worker holding the prefix (first not on ${avoid})`, async () => {
    const p = prompt(avoid === 'decode-0' ? 7 : 9, 33);
    blocked.set('first', avoid);
    let before = await servedBy(svc);
    await expectSame(svc, req('first', p));
    blocked.delete('first');
    const x = await whoServed(svc, before);
    for (let i = 0; i < 3; i++) {
      before = await servedBy(svc);
      const r = await expectSame(svc, req(`resend-${i}`, p));
      assert.equal(await whoServed(svc, before), x, `resend ${i} should follow the cached prefix`);
      assert.equal(r.cached, p.length - 1);
    }
    // A prompt that extends p still follows x.
    before = await servedBy(svc);
    const ext = await expectSame(svc, req('extend', [...p, ...prompt(avoid === 'decode-0' ? 8 : 10, 5)]));
    assert.equal(await whoServed(svc, before), x);
    assert.ok(ext.cached > 0);
  });
});
