import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { repoRoot } from '../testing/golden.js';
import { makeTiny } from '../testing/tiny-model.js';
import {
  argmax, evalChunks, evalQuant, evalQuantLoaded, klDivergence, PositionStats, quantile, readEvalText, type EvalQuantOptions,
} from './eval-quant.js';
import { loadModel } from './load-model.js';

const TEXT = readFileSync(join(repoRoot(), 'tests', 'data', 'eval.txt'), 'utf8');
const FAST: EvalQuantOptions = { ctx: 64, maxTokens: 512 };
let tmp = '';
let f32 = '';
let bf16 = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tandem-evalq-'));
  f32 = join(tmp, 'f32');
  bf16 = join(tmp, 'bf16');
  makeTiny(f32, { pattern: 'M*-M', seed: 3, dtype: 'f32' });
  makeTiny(bf16, { pattern: 'M*-M', seed: 3, dtype: 'bf16' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const isCode = (code: string, hint?: RegExp) => (e: unknown): boolean =>
  e instanceof TandemError && e.code === code && (hint === undefined || hint.test(e.message));

test('klDivergence matches hand-computed values', () => {
  const log = (xs: number[]): number[] => xs.map(Math.log);
  // 0.5·ln(0.5/0.25) + 0.5·ln(0.5/0.75) = 0.5·ln 2 + 0.5·ln(2/3)
  assert.ok(Math.abs(klDivergence(log([0.5, 0.5]), log([0.25, 0.75])) - (0.5 * Math.log(2) + 0.5 * Math.log(2 / 3))) < 1e-15);
  // a zero in p contributes nothing: KL([1, 0] ‖ [0.5, 0.5]) = ln 2
  assert.ok(Math.abs(klDivergence(log([1, 0]), log([0.5, 0.5])) - Math.log(2)) < 1e-15);
  // 0.2·ln(0.2/0.1) + 0.3·ln(0.3/0.6) + 0.5·ln(0.5/0.3)
  const expected = 0.2 * Math.log(2) + 0.3 * Math.log(0.5) + 0.5 * Math.log(5 / 3);
  assert.ok(Math.abs(klDivergence(log([0.2, 0.3, 0.5]), log([0.1, 0.6, 0.3])) - expected) < 1e-15);
  assert.equal(klDivergence(log([0.2, 0.3, 0.5]), log([0.2, 0.3, 0.5])), 0);
  assert.equal(klDivergence(log([0.5, 0.5]), [Math.log(1), -Infinity]), Infinity);
  assert.throws(() => klDivergence([0], [0, 0]), isCode('BAD_INPUT'));
});

test('argmax, quantile and PositionStats on hand-made rows', () => {
  assert.equal(argmax([0.1, 0.7, 0.7, 0.2]), 1);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([0, 10], 0.9), 9);
  const s = new PositionStats();
  const log = (xs: number[]): number[] => xs.map(Math.log);
  s.add(log([0.5, 0.5]), log([0.25, 0.75]), 0); // same top? argmax A = 0, B = 1: no; Δp = 0.25 − 0.5
  s.add(log([0.8, 0.2]), log([0.6, 0.4]), 0); // same top: yes; Δp = 0.6 − 0.8
  const m = s.summary();
  assert.equal(m.positions, 2);
  assert.equal(m.sameTop.rate, 0.5);
  assert.ok(Math.abs(m.deltaP.mean - (-0.25 - 0.2) / 2) < 1e-15);
  assert.ok(Math.abs(m.deltaP.rms - Math.sqrt((0.25 ** 2 + 0.2 ** 2) / 2)) < 1e-15);
  assert.ok(Math.abs(m.ppl.reference - Math.exp(-(Math.log(0.5) + Math.log(0.8)) / 2)) < 1e-12);
  assert.ok(Math.abs(m.ppl.candidate - Math.exp(-(Math.log(0.25) + Math.log(0.6)) / 2)) < 1e-12);
  const kl1 = 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3);
  const kl2 = 0.8 * Math.log(0.8 / 0.6) + 0.2 * Math.log(0.5);
  assert.ok(Math.abs(m.kl.mean - (kl1 + kl2) / 2) < 1e-15);
  assert.ok(Math.abs(m.kl.max - Math.max(kl1, kl2)) < 1e-15);
});

test('evalChunks: whole chunks, capped by maxTokens, BOS replaces each first token', () => {
  const tokens = Array.from({ length: 25 }, (_, i) => 100 + i);
  const c = evalChunks(tokens, 8, 100, 1);
  assert.deepEqual(c.map((x) => x.length), [8, 8, 8]);
  assert.deepEqual(c[1], [1, 109, 110, 111, 112, 113, 114, 115]);
  assert.equal(evalChunks(tokens, 8, 16, undefined).length, 2);
  assert.equal(evalChunks(tokens, 8, 16, undefined)[1]![0], 108);
  assert.throws(() => evalChunks(tokens, 26, 100, 1), isCode('BAD_INPUT', /at least 26/));
  assert.throws(() => evalChunks(tokens, 3, 100, 1), isCode('BAD_ARGUMENT', /--ctx/));
  assert.throws(() => evalChunks(tokens, 8, 7, 1), isCode('BAD_ARGUMENT', /--max-tokens/));
});

test('reference against itself: KL exactly 0, same top 100 %, ΔPPL 0', () => {
  const r = evalQuant(f32, f32, TEXT, FAST);
  const m = r.metrics;
  assert.equal(m.chunks, 8);
  assert.equal(m.positions, 8 * (64 - 1 - 32));
  assert.equal(m.kl.mean, 0);
  assert.equal(m.kl.max, 0);
  assert.equal(m.sameTop.rate, 1);
  assert.equal(m.ppl.delta, 0);
  assert.equal(m.ppl.ratio, 1);
  assert.equal(m.deltaP.rms, 0);
  assert.ok(Number.isFinite(m.ppl.reference) && m.ppl.reference > 1);
  assert.deepEqual(r.reference.stateBytes, r.candidate.stateBytes);
  assert.equal(r.reference.bitsPerWeight, 32);
  assert.equal(r.reference.quantizedBitsPerWeight, null);
});

test('bf16 copy of the same weights: small positive KL, high same-top, half the matrix bytes', () => {
  const r = evalQuant(f32, bf16, TEXT, FAST);
  const m = r.metrics;
  assert.ok(m.kl.mean > 0 && m.kl.mean < 0.01, `KL mean ${m.kl.mean}`);
  assert.ok(m.kl.median <= m.kl.p90 && m.kl.p90 <= m.kl.p99 && m.kl.p99 <= m.kl.max);
  assert.ok(m.sameTop.rate >= 0.9, `same top ${m.sameTop.rate}`);
  assert.ok(Math.abs(m.ppl.ratio - 1) < 0.05, `PPL ratio ${m.ppl.ratio}`);
  assert.ok((r.candidate.bytesByFormat.bf16 ?? 0) > 0);
  assert.ok(r.candidate.weightBytes < 0.6 * r.reference.weightBytes);
  assert.ok(r.candidate.bitsPerWeight > 16 && r.candidate.bitsPerWeight < 17);
  assert.equal(r.candidate.params, r.reference.params);
});

test('candidate with an FP8 KV cache and BF16 SSM state: KL > 0, smaller state', () => {
  const r = evalQuant(f32, f32, TEXT, { ...FAST, candidate: { kvCache: 'fp8', ssmState: 'bf16' } });
  assert.ok(r.metrics.kl.mean > 0);
  assert.deepEqual(r.candidate.stateFormat, { kv: 'fp8', ssm: 'bf16' });
  assert.deepEqual(r.reference.stateFormat, { kv: 'f32', ssm: 'f32' });
  for (const k of ['8k', '128k', '1M'] as const) assert.ok(r.candidate.stateBytes[k] < r.reference.stateBytes[k], k);
  const kvOnly = evalQuant(f32, f32, TEXT, { ...FAST, maxTokens: 128, candidate: { kvCache: 'fp8' } });
  assert.ok(kvOnly.metrics.kl.mean > 0);
  assert.ok(kvOnly.candidate.stateBytes['8k'] < kvOnly.reference.stateBytes['8k']);
});

test('errors: missing model or text, too-short text, vocabulary mismatch, ctx beyond the model', () => {
  assert.throws(() => evalQuant(join(tmp, 'nope'), f32, TEXT, FAST), isCode('NOT_FOUND'));
  assert.throws(() => evalQuant(f32, join(tmp, 'nope'), TEXT, FAST), isCode('NOT_FOUND'));
  assert.throws(() => readEvalText(join(tmp, 'missing.txt')), isCode('NOT_FOUND', /--text/));
  assert.throws(() => evalQuant(f32, bf16, 'Too short.', FAST), isCode('BAD_INPUT', /at least 64/));
  assert.throws(() => evalQuant(f32, bf16, TEXT, { ctx: 4096 }), isCode('BAD_ARGUMENT', /exceeds the context/));
  const ref = loadModel(f32);
  const cand = loadModel(bf16);
  const other = { ...cand, model: { ...cand.model, config: { ...cand.model.config, vocabSize: cand.model.config.vocabSize + 1 } } };
  assert.throws(() => evalQuantLoaded(ref, other, TEXT, FAST), isCode('BAD_INPUT', /vocabulary sizes differ/));
});
