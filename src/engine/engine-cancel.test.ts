/**
 * LocalEngine lifecycle: cancellation frees the state at once in every phase (liveStates is the leak check),
 * the 429 path, failure isolation (a broken request fails alone with a 500 event), close(), and a stress run of
 * ~300 requests aborted at random points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, goldenDense, randomPrompt, reference, request, turns } from '../testing/engine-fixtures.js';
import { Rng } from '../testing/rng.js';
import { LocalEngine, type PrefillResult } from './engine.js';
import { ServiceFullError, type GenerationRequest, type ServiceEvent } from './service.js';

const loaded = goldenDense();
const V = loaded.model.config.vocabSize;
const live = (): AbortSignal => new AbortController().signal;

test('cancel while waiting: the queue shrinks at once and the running request is unaffected', async () => {
  const engine = new LocalEngine(loaded, { maxRunning: 1 });
  const a = request(randomPrompt(1, 20, V), { maxTokens: 20 });
  const ctl = new AbortController();
  const running = collect(engine.submit(a, live()));
  const waiting = collect(engine.submit(request(randomPrompt(2, 20, V)), ctl.signal));
  await turns(2);
  assert.deepEqual([engine.stats().running, engine.stats().waiting, engine.stats().liveStates], [1, 1, 1]);
  ctl.abort();
  assert.deepEqual([engine.stats().running, engine.stats().waiting, engine.stats().liveStates], [1, 0, 1]);
  assert.deepEqual((await waiting).events, []);
  assert.deepEqual((await running).tokens, reference(loaded, a).tokens);
  assert.equal(engine.stats().liveStates, 0);
  assert.equal(engine.stats().requestsFinished['abort'], 1);
});

test('cancel during a chunked prefill frees the state immediately', async () => {
  const engine = new LocalEngine(loaded, { maxStepTokens: 16 });
  const ctl = new AbortController();
  const got = collect(engine.submit(request(randomPrompt(3, 300, V)), ctl.signal));
  await turns(4);
  assert.deepEqual([engine.stats().running, engine.stats().liveStates, engine.stats().generationTokensTotal], [1, 1, 0]);
  ctl.abort();
  assert.deepEqual([engine.stats().running, engine.stats().liveStates], [0, 0]);
  assert.deepEqual((await got).events, []);
  assert.ok(engine.stats().promptTokensTotal < 300);
});

test('cancel while decoding (abort, or leaving the iterator) frees the state immediately', async () => {
  const engine = new LocalEngine(loaded);
  const ctl = new AbortController();
  const aborted = await collect(engine.submit(request(randomPrompt(4, 10, V), { maxTokens: 50 }), ctl.signal), (n) => {
    if (n === 3) {
      ctl.abort();
      assert.equal(engine.stats().liveStates, 0);
    }
  });
  assert.equal(aborted.tokens.length, 3);
  assert.equal(aborted.reason, undefined);
  const left = await collect(engine.submit(request(randomPrompt(5, 10, V), { maxTokens: 50 }), live()), (n) => n === 2);
  assert.equal(left.tokens.length, 2);
  assert.equal(engine.stats().liveStates, 0);
  assert.equal(engine.stats().running, 0);
  assert.equal(engine.stats().requestsFinished['abort'], 2);
});

test('an already aborted signal ends the request before it starts; prefillOnly and resumed requests cancel too', async () => {
  const engine = new LocalEngine(loaded, { maxStepTokens: 16 });
  const gone = AbortSignal.abort();
  assert.deepEqual((await collect(engine.submit(request([1, 2, 3]), gone))).events, []);
  await assert.rejects(engine.prefillOnly(request([1, 2, 3]), gone), { name: 'AbortError' });
  const ctl = new AbortController();
  const pending = engine.prefillOnly(request(randomPrompt(6, 200, V)), ctl.signal);
  await turns(3);
  assert.equal(engine.stats().liveStates, 1);
  ctl.abort();
  assert.equal(engine.stats().liveStates, 0);
  await assert.rejects(pending, { name: 'AbortError' });
  const req = request(randomPrompt(7, 20, V), { maxTokens: 40 });
  const pre = await engine.prefillOnly(req, live());
  const ctl2 = new AbortController();
  const resumed = await collect(engine.submitResumed(req, pre, ctl2.signal), (n) => void (n === 4 && ctl2.abort()));
  assert.equal(resumed.tokens.length, 4);
  assert.equal(engine.stats().liveStates, 0);
});

test('a full waiting queue refuses with ServiceFullError (429)', async () => {
  const engine = new LocalEngine(loaded, { maxRunning: 1, maxWaiting: 1, retryAfterSeconds: 2 });
  const first = collect(engine.submit(request([1, 2, 3]), live()));
  assert.throws(() => engine.submit(request([1, 2, 3]), live()), (e: unknown) => e instanceof ServiceFullError && e.retryAfterSeconds === 2);
  await assert.rejects(engine.prefillOnly(request([1, 2]), live()), ServiceFullError);
  assert.equal((await first).reason, 'length');
  assert.equal((await collect(engine.submit(request([1, 2, 3]), live()))).reason, 'length');
  assert.equal(engine.stats().liveStates, 0);
});

test('a request that breaks inside a step fails alone with a 500 event; the engine keeps serving', async () => {
  const errors: string[] = [];
  const engine = new LocalEngine(loaded, { onError: (_e, id) => errors.push(id) });
  const good = request(randomPrompt(8, 30, V), { maxTokens: 12 });
  const bad = request(randomPrompt(9, 10, V), { id: 'broken', maxTokens: 12 });
  const pre: PrefillResult = await engine.prefillOnly(bad, live());
  const corrupt = { state: { ...pre.state, layers: [] }, logits: pre.logits }; // a state with its layers gone
  const [g, b] = await Promise.all([collect(engine.submit(good, live())), collect(engine.submitResumed(bad, corrupt, live()))]);
  assert.deepEqual(g.tokens, reference(loaded, good).tokens);
  assert.equal(b.tokens.length, 1); // sampled from the transferred logits; the first forward then fails
  assert.ok(b.last?.type === 'error' && b.last.status === 500 && b.last.code === 'internal_error', JSON.stringify(b.last));
  assert.deepEqual(errors, ['broken']);
  assert.equal(engine.stats().liveStates, 0);
  assert.equal((await collect(engine.submit(good, live()))).text, g.text);
});

test('close() ends in-flight requests with a 503 event and refuses new ones', async () => {
  const engine = new LocalEngine(loaded, { maxStepTokens: 16 });
  const inflight = collect(engine.submit(request(randomPrompt(10, 10, V), { maxTokens: 200 }), live()));
  const prefill = engine.prefillOnly(request(randomPrompt(11, 200, V)), live());
  await turns(3);
  await engine.close();
  const last = (await inflight).last;
  assert.ok(last?.type === 'error' && last.status === 503, JSON.stringify(last));
  await assert.rejects(prefill, { code: 'engine_closed' });
  const after = (await collect(engine.submit(request([1]), live()))).last;
  assert.ok(after?.type === 'error' && after.status === 503);
  assert.equal(engine.stats().liveStates, 0);
});

/** One stress request: submitted in one of several ways and aborted at a random point (or not at all). */
async function stressOne(engine: LocalEngine, rng: Rng, i: number): Promise<'done' | 'aborted' | 'refused'> {
  const req = request(randomPrompt(1000 + i, 1 + rng.int(40), V), { maxTokens: 1 + rng.int(10), sampling: { temperature: rng.int(2), seed: i } });
  const ctl = new AbortController();
  const mode = rng.int(6); // 0 none, 1 pre-aborted, 2 at once, 3 after some turns, 4 after some tokens, 5 leave the iterator
  const at = rng.int(12);
  if (mode === 1) ctl.abort();
  let stream: AsyncIterable<ServiceEvent>;
  try {
    if (i % 5 === 0) {
      const pre = engine.prefillOnly(req, ctl.signal);
      if (mode === 2) ctl.abort();
      if (mode === 3) void turns(at).then(() => ctl.abort());
      const handed = await pre.catch(() => undefined);
      if (!handed) return 'aborted';
      stream = engine.submitResumed(req, handed, ctl.signal);
    } else {
      stream = engine.submit(req, ctl.signal);
    }
  } catch (e) {
    assert.ok(e instanceof ServiceFullError);
    return 'refused';
  }
  if (mode === 2) ctl.abort();
  if (mode === 3) void turns(at).then(() => ctl.abort());
  const got = await collect(stream, (n) => {
    if (mode === 4 && n >= at) ctl.abort();
    return mode === 5 && n >= at;
  });
  if (got.last?.type === 'finish') return 'done';
  assert.ok(got.last?.type !== 'error', JSON.stringify(got.last));
  return 'aborted';
}

test('stress: ~300 requests aborted at random points leave no state behind and the engine still answers', async () => {
  const engine = new LocalEngine(loaded, { maxRunning: 8, maxWaiting: 48, maxStepTokens: 64 });
  const rng = new Rng(77);
  const outcomes: Promise<string>[] = [];
  for (let i = 0; i < 300; i++) {
    outcomes.push(stressOne(engine, rng, i));
    if (i % 10 === 9) await turns(1 + rng.int(4));
  }
  const counts: Record<string, number> = {};
  for (const o of await Promise.all(outcomes)) counts[o] = (counts[o] ?? 0) + 1;
  console.log('stress outcomes', counts, engine.stats().requestsFinished);
  assert.ok((counts['done'] ?? 0) > 30 && (counts['aborted'] ?? 0) > 30, JSON.stringify(counts));
  const s = engine.stats();
  assert.deepEqual([s.liveStates, s.running, s.waiting], [0, 0, 0]);
  const check: GenerationRequest = request(randomPrompt(5, 25, V), { maxTokens: 10 });
  assert.deepEqual((await collect(engine.submit(check, live()))).tokens, reference(loaded, check).tokens);
  assert.equal(engine.stats().liveStates, 0);
});
