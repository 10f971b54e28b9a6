/**
 * LocalEngine on tests/golden/dense: the engine produces exactly what `generate()` produces for the same request,
 * alone, batched with others, and split into prefill + resumed decode (also across a state serialization).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserializeState, serializeState } from '../model/state-codec.js';
import { collect, goldenDense, randomPrompt, reference, request } from '../testing/engine-fixtures.js';
import { LocalEngine, EngineRequestError } from './engine.js';
import { logSoftmax } from './logprobs.js';
import type { GenerationRequest } from './service.js';

const loaded = goldenDense();
const V = loaded.model.config.vocabSize;
const live = (): AbortSignal => new AbortController().signal;
const SAMPLED = { temperature: 0.9, topK: 50, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1 };

test('greedy and seeded sampling equal generate() for the same request', async () => {
  const engine = new LocalEngine(loaded);
  for (const [i, sampling] of [{}, { ...SAMPLED, seed: 7 }, { temperature: 1.3, seed: 99 }].entries()) {
    const req = request(randomPrompt(10 + i, 30 + 20 * i, V), { sampling, maxTokens: 24 });
    const got = await collect(engine.submit(req, live()));
    const want = reference(loaded, req);
    assert.deepEqual(got.tokens, want.tokens);
    assert.equal(got.text, want.text);
    assert.equal(got.reason, want.reason);
    assert.deepEqual(got.last, { type: 'finish', reason: want.reason, usage: { promptTokens: req.prompt.length, completionTokens: want.tokens.length, cachedTokens: 0 } });
  }
  assert.equal(engine.stats().liveStates, 0);
  assert.equal(engine.stats().generationTokensTotal, 72);
});

test('8 concurrent requests give exactly the tokens each gives alone (batching never changes results)', async () => {
  const reqs: GenerationRequest[] = Array.from({ length: 8 }, (_, i) =>
    request(randomPrompt(100 + i, 5 + 23 * i, V), { sampling: i % 2 ? { ...SAMPLED, seed: i } : {}, maxTokens: 12 + 3 * i }));
  const engine = new LocalEngine(loaded, { maxStepTokens: 48, maxRunning: 6 }); // chunked prefill, 2 wait for a slot
  let maxRunning = 0;
  const timer = setInterval(() => (maxRunning = Math.max(maxRunning, engine.stats().running)), 0);
  const together = await Promise.all(reqs.map((r) => collect(engine.submit(r, live()))));
  clearInterval(timer);
  for (const [i, r] of reqs.entries()) {
    const alone = reference(loaded, r);
    assert.deepEqual(together[i]!.tokens, alone.tokens, `request ${i}`);
    assert.equal(together[i]!.text, alone.text);
  }
  assert.ok(maxRunning > 1, 'requests should have been batched');
  const s = engine.stats();
  assert.equal(s.liveStates, 0);
  assert.equal(s.promptTokensTotal, reqs.reduce((n, r) => n + r.prompt.length, 0));
  assert.deepEqual([s.running, s.waiting], [0, 0]);
});

test('prefillOnly + submitResumed equals submit, also through serializeState/deserializeState', async () => {
  const engine = new LocalEngine(loaded, { maxStepTokens: 32 });
  const cfg = loaded.model.config;
  for (const sampling of [{}, { ...SAMPLED, seed: 5 }]) {
    const req = request(randomPrompt(7, 70, V), { sampling, maxTokens: 20, topLogprobs: 2 });
    const whole = await collect(engine.submit(req, live()));
    const pre = await engine.prefillOnly(req, live());
    assert.equal(engine.stats().liveStates, 0, 'a handed-off state is the caller\'s');
    assert.deepEqual(pre.state.tokens, req.prompt);
    const blob = serializeState(cfg, pre.state);
    const [a, b] = await Promise.all([
      collect(engine.submitResumed(req, pre, live())),
      collect(engine.submitResumed(req, { state: deserializeState(cfg, loaded.model.fingerprint, blob), logits: pre.logits.slice() }, live())),
    ]);
    for (const split of [a, b]) {
      assert.deepEqual(split.tokens, whole.tokens);
      assert.equal(split.text, whole.text);
      assert.deepEqual(split.logprobs, whole.logprobs);
      assert.deepEqual(split.last, whole.last);
    }
  }
  assert.equal(engine.stats().liveStates, 0);
});

test('a resumed request that finishes on its first token never holds a state', async () => {
  const engine = new LocalEngine(loaded);
  const req = request(randomPrompt(8, 10, V), { maxTokens: 1 });
  const pre = await engine.prefillOnly(req, live());
  const got = await collect(engine.submitResumed(req, pre, live()));
  assert.deepEqual(got.tokens, reference(loaded, req).tokens);
  assert.equal(got.reason, 'length');
  assert.equal(engine.stats().liveStates, 0);
});

test('stop strings end the stream before the stop text, as in generate()', async () => {
  const engine = new LocalEngine(loaded);
  const base = request(randomPrompt(21, 12, V), { maxTokens: 40 });
  const free = reference(loaded, base);
  const stop = free.text.slice(10, 13); // a string the free-running output contains
  const req = { ...base, stop: ['never-there', stop] };
  const got = await collect(engine.submit(req, live()));
  const want = reference(loaded, req);
  assert.equal(got.reason, 'stop');
  assert.deepEqual(got.tokens, want.tokens);
  assert.equal(got.text, want.text);
  assert.equal(got.text, free.text.slice(0, free.text.indexOf(stop)));
  assert.ok(got.tokens.length < free.tokens.length);
});

test('EOS ends the stream unseen (held-back text comes with finish); ignoreEos keeps going', async () => {
  const engine = new LocalEngine(loaded);
  // A flat distribution at a seed where the free run samples an EOS id after 14 tokens.
  const free = request(randomPrompt(3, 8, V), { sampling: { temperature: 4, seed: 3 }, maxTokens: 300 });
  const freeText = reference(loaded, free).text;
  // A stop string whose first characters end the output: they are held back until the stream ends.
  const req = { ...free, stop: [freeText.slice(-3) + '\u0007never'] };
  const want = reference(loaded, req);
  assert.equal(want.reason, 'eos', 'fixture: this seed should reach EOS');
  assert.equal(want.text, freeText);
  const got = await collect(engine.submit(req, live()));
  assert.deepEqual(got.tokens, want.tokens);
  assert.equal(got.text, want.text);
  assert.equal(got.reason, 'eos');
  assert.ok(got.last?.type === 'finish' && got.last.text?.endsWith(freeText.slice(-3)), 'the held-back text rides on finish');
  const past = await collect(engine.submit({ ...req, ignoreEos: true }, live()));
  assert.equal(past.reason, 'length');
  assert.equal(past.tokens.length, 300);
  assert.ok(past.tokens.some((t) => loaded.tokenizer().eosIds.includes(t)));
});

test('topLogprobs: the sampled token\'s log-softmax and the k best, descending, ties to the lowest id', async () => {
  const engine = new LocalEngine(loaded);
  const req = request(randomPrompt(4, 9, V), { sampling: { ...SAMPLED, seed: 2 }, maxTokens: 6, topLogprobs: 5 });
  const got = await collect(engine.submit(req, live()));
  assert.equal(got.logprobs.length, 6);
  const pre = await engine.prefillOnly(req, live());
  const lp = logSoftmax(pre.logits);
  const first = got.logprobs[0]!;
  assert.equal(first.token, got.tokens[0]);
  assert.equal(first.logprob, lp[first.token]);
  const order = [...lp.keys()].sort((a, b) => lp[b]! - lp[a]! || a - b).slice(0, 5);
  assert.deepEqual(first.top, order.map((t) => ({ token: t, logprob: lp[t]! })));
  for (const l of got.logprobs) {
    assert.equal(l.top.length, 5);
    for (let i = 1; i < 5; i++) assert.ok(l.top[i - 1]!.logprob >= l.top[i]!.logprob);
    assert.ok(l.logprob <= l.top[0]!.logprob && l.logprob <= 0);
  }
  const none = await collect(engine.submit({ ...req, topLogprobs: 0 }, live()));
  assert.ok(none.logprobs.every((l) => l.top.length === 0) && none.logprobs.length === 6);
  const off = await collect(engine.submit({ ...req, topLogprobs: undefined }, live()));
  assert.ok(off.events.every((e) => e.type !== 'token' || e.logprob === undefined));
});

test('a prompt longer than the context is a 400 context_length_exceeded event, not a crash', async () => {
  const engine = new LocalEngine(loaded);
  const tooLong = request(randomPrompt(5, engine.maxContext + 1, V));
  const got = await collect(engine.submit(tooLong, live()));
  assert.equal(got.events.length, 1);
  assert.deepEqual({ ...got.last, message: '' }, { type: 'error', status: 400, code: 'context_length_exceeded', message: '' });
  await assert.rejects(engine.prefillOnly(tooLong, live()), (e: unknown) => e instanceof EngineRequestError && e.code === 'context_length_exceeded');
  for (const bad of [request([]), request([V + 3]), request([1], { maxTokens: -1 }), request([1], { stop: [''] }), request([1], { sampling: { topP: 0 } })]) {
    const ev = (await collect(engine.submit(bad, live()))).last;
    assert.ok(ev?.type === 'error' && ev.status === 400, JSON.stringify(ev));
  }
  assert.equal(engine.stats().requestsFinished['error'], 6);
  const ok = await collect(engine.submit(request([1, 5, 9], { maxTokens: 3 }), live()));
  assert.equal(ok.tokens.length, 3);
});

test('generation stops with "length" when the context fills, as in generate()', async () => {
  const small = { ...loaded, model: { ...loaded.model, config: { ...loaded.model.config, maxPositions: 40 } } };
  const engine = new LocalEngine(small);
  const req = request(randomPrompt(6, 33, V), { maxTokens: 50 });
  const got = await collect(engine.submit(req, live()));
  const want = reference(small, req);
  assert.equal(got.reason, 'length');
  assert.deepEqual(got.tokens, want.tokens);
  assert.equal(got.tokens.length, 40 - 33 + 1); // the last sampled token is never fed
  assert.equal(engine.stats().liveStates, 0);
});
