/**
 * Invariance tests for the properties hybrids break first (STYLE P9): chunked prefill equals one prefill equals
 * prefill + teacher-forced decode (logits and final state); serialize → restore → continue is bit-identical;
 * a forked state continues independently.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../src/engine/load-model.js';
import { forward, newState, type Model } from '../src/model/nemotron-h.js';
import { createState, forkState, kvDim, type SequenceState } from '../src/model/state.js';
import { deserializeState, serializeState } from '../src/model/state-codec.js';
import { goldenDir, goldenTokens } from '../src/testing/golden.js';
import { TOLERANCE, maxAbsDiff } from '../src/testing/tolerances.js';
import { closeAll, fastBackends } from '../src/testing/fast-backends.js';

const fast = await fastBackends();
after(() => closeAll(fast));
/** Both fixtures on every backend: the reference, and each fast backend (wasm, native where built) on 2 threads. */
const models: Array<[string, Model]> = ['dense', 'moe'].flatMap((n) => [
  [n, loadModel(join(goldenDir(), n)).model],
  ...fast.map(([bn, backend]) => [`${n}/${bn}`, loadModel(join(goldenDir(), n), { backend }).model]),
] as Array<[string, Model]>);

/** Logits of every position when the sequence is fed in slices of `chunk` tokens (1 = pure decode). */
function runChunked(model: Model, tokens: readonly number[], chunk: number): { logits: Float32Array; state: SequenceState } {
  const V = model.config.vocabSize;
  const state = createState(model.config, model.fingerprint);
  const logits = new Float32Array(tokens.length * V);
  for (let i = 0; i < tokens.length; i += chunk) {
    const part = tokens.slice(i, i + chunk);
    logits.set(forward(model, state, part, { logits: 'all' }), i * V);
  }
  return { logits, state };
}

/** Largest difference between two states' conv, SSM and used KV rows. */
function stateDiff(model: Model, a: SequenceState, b: SequenceState): number {
  const used = a.tokens.length * kvDim(model.config);
  let worst = 0;
  a.layers.forEach((la, i) => {
    const lb = b.layers[i]!;
    if (la.kind === 'mamba2' && lb.kind === 'mamba2') {
      worst = Math.max(worst, maxAbsDiff(la.conv, lb.conv).maxAbs, maxAbsDiff(la.ssm, lb.ssm).maxAbs);
    } else if (la.kind === 'attention' && lb.kind === 'attention') {
      const k = maxAbsDiff(la.k.subarray(0, used), lb.k.subarray(0, used)).maxAbs;
      const v = maxAbsDiff(la.v.subarray(0, used), lb.v.subarray(0, used)).maxAbs;
      worst = Math.max(worst, k, v);
    }
  });
  return worst;
}

for (const [name, model] of models) {
  const tokens = goldenTokens(model.config.vocabSize, 100);

  test(`${name}: chunked prefill 1, 7, 64 and prefill+decode equal one prefill (logits and state)`, () => {
    const whole = runChunked(model, tokens, tokens.length);
    for (const chunk of [1, 7, 64]) {
      const r = runChunked(model, tokens, chunk);
      const dl = maxAbsDiff(whole.logits, r.logits).maxAbs;
      const ds = stateDiff(model, whole.state, r.state);
      console.log(`${name} chunk ${chunk}: max |Δ logit| ${dl.toExponential(2)}, max |Δ state| ${ds.toExponential(2)}`);
      assert.ok(dl <= TOLERANCE.chunkInvarianceLogit, `logits differ by ${dl} with chunk ${chunk}`);
      assert.ok(ds <= TOLERANCE.chunkInvarianceState, `state differs by ${ds} with chunk ${chunk}`);
      assert.deepEqual(r.state.tokens, tokens);
    }
    // prefill(part) + decode(rest)
    const V = model.config.vocabSize;
    const state = createState(model.config, model.fingerprint);
    const split = 17;
    const first = forward(model, state, tokens.slice(0, split), { logits: 'all' });
    const rest = tokens.slice(split).map((t) => forward(model, state, [t]));
    const joined = new Float32Array(tokens.length * V);
    joined.set(first);
    rest.forEach((l, i) => joined.set(l, (split + i) * V));
    const d = maxAbsDiff(whole.logits, joined).maxAbs;
    console.log(`${name} prefill(${split}) + decode: max |Δ logit| ${d.toExponential(2)}`);
    assert.ok(d <= TOLERANCE.chunkInvarianceLogit);
  });

  test(`${name}: serialize → restore → continue gives identical logits`, () => {
    const a = createState(model.config, model.fingerprint);
    forward(model, a, tokens.slice(0, 20));
    const blob = serializeState(model.config, a);
    const b = deserializeState(model.config, model.fingerprint, blob);
    assert.deepEqual(b.tokens, a.tokens);
    const la = forward(model, a, tokens.slice(20), { logits: 'all' });
    const lb = forward(model, b, tokens.slice(20), { logits: 'all' });
    assert.equal(maxAbsDiff(la, lb).maxAbs, 0, 'restored state must continue bit-identically');
  });

  test(`${name}: a forked state continues independently`, () => {
    const base = createState(model.config, model.fingerprint);
    forward(model, base, tokens.slice(0, 12));
    const fork = forkState(base, model.config);
    const ref = forkState(base, model.config);
    forward(model, base, tokens.slice(12, 30)); // advance the original a lot
    const lf = forward(model, fork, tokens.slice(12, 14), { logits: 'all' });
    const lr = forward(model, ref, tokens.slice(12, 14), { logits: 'all' });
    assert.equal(maxAbsDiff(lf, lr).maxAbs, 0, 'fork must not see the original advance');
    assert.equal(base.tokens.length, 30);
    assert.equal(fork.tokens.length, 14);
  });
}

test('FP8 KV cache + BF16 SSM state: serialize → restore → continue is identical, and fork is independent', () => {
  const { model: base } = loadModel(join(goldenDir(), 'dense'), { kvCache: 'fp8', ssmState: 'bf16' });
  const tokens = goldenTokens(base.config.vocabSize, 30);
  const a = newState(base);
  forward(base, a, tokens.slice(0, 20));
  const b = deserializeState(base.config, base.fingerprint, serializeState(base.config, a));
  const fork = forkState(a, base.config);
  const la = forward(base, a, tokens.slice(20), { logits: 'all' });
  const lb = forward(base, b, tokens.slice(20), { logits: 'all' });
  const lf = forward(base, fork, tokens.slice(20), { logits: 'all' });
  assert.equal(maxAbsDiff(la, lb).maxAbs, 0);
  assert.equal(maxAbsDiff(la, lf).maxAbs, 0);
  const f32 = forward(models[0]![1], createState(base.config, models[0]![1].fingerprint), tokens, { logits: 'all' });
  const q = forward(base, newState(base), tokens, { logits: 'all' });
  const d = maxAbsDiff(f32, q).maxAbs;
  console.log(`dense: FP8 KV + BF16 SSM vs F32 state, max |Δ logit| ${d.toExponential(2)}`);
  assert.ok(d > 0 && d < 1, 'reduced-precision state changes the logits, but not wildly');
});
