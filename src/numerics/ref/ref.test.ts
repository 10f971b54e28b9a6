import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../testing/rng.js';
import { TOLERANCE, maxAbsDiff } from '../../testing/tolerances.js';
import type { ScanArgs } from '../backend.js';
import { fromFloat32 } from '../dtypes/index.js';
import { ssmScanRef } from './ssm-scan.js';
import { ssdChunkScanRef } from './ssd-chunk-scan.js';
import { conv1dRef } from './conv1d.js';
import { routeRef } from './route.js';
import { matmulRef } from './matmul.js';
import { attentionRef } from './attention.js';

const rand = (rng: Rng, n: number, s = 1): Float32Array => Float32Array.from({ length: n }, () => s * rng.normal());

function scanArgs(rng: Rng, T: number, chunkSize: number): ScanArgs {
  const nh = 4, P = 3, N = 5, G = 2;
  return {
    T, numHeads: nh, headDim: P, stateSize: N, nGroups: G, x: rand(rng, T * nh * P), B: rand(rng, T * G * N), C: rand(rng, T * G * N),
    dt: rand(rng, T * nh), dtBias: Float32Array.from({ length: nh }, () => rng.uniform(-3, 0)), dtLimit: [0, Infinity],
    A: Float32Array.from({ length: nh }, () => -rng.uniform(1, 8)), D: rand(rng, nh), state: rand(rng, nh * P * N, 0.5),
    y: new Float32Array(T * nh * P), chunkSize,
  };
}

test('chunked SSD scan equals the sequential recurrence (outputs and final state), any chunk size', () => {
  for (const [T, Q] of [[37, 8], [37, 1], [16, 16], [5, 64], [1, 4]] as const) {
    const a = scanArgs(new Rng(T * 100 + Q), T, Q);
    const b = { ...a, state: a.state.slice(), y: new Float32Array(a.y.length) };
    ssmScanRef(a);
    ssdChunkScanRef(b);
    const dy = maxAbsDiff(a.y, b.y).maxAbs;
    const ds = maxAbsDiff(a.state, b.state).maxAbs;
    console.log(`T=${T} Q=${Q}: max |Δy| ${dy.toExponential(2)}, max |Δstate| ${ds.toExponential(2)} (tolerance ${TOLERANCE.ssdVsScan})`);
    assert.ok(dy <= TOLERANCE.ssdVsScan && ds <= TOLERANCE.ssdVsScan);
  }
});

test('Δ is clamped to time_step_limit', () => {
  const a = { ...scanArgs(new Rng(3), 4, 4), dtLimit: [0.5, 0.6] as const };
  const b = { ...a, dt: a.dt.map((v) => v + 100), state: a.state.slice(), y: new Float32Array(a.y.length) };
  const c = { ...a, dt: a.dt.map(() => 0), dtBias: a.dtBias.map(() => Math.log(Math.expm1(0.6))), state: a.state.slice(), y: new Float32Array(a.y.length) };
  ssmScanRef(b);
  ssmScanRef(c);
  assert.ok(maxAbsDiff(b.y, c.y).maxAbs < 1e-5, 'huge dt clamps to the upper limit');
});

test('conv1d over T rows equals T one-row updates; state holds the last K−1 rows', () => {
  const rng = new Rng(9);
  const T = 6, Cd = 5, K = 4;
  const x = rand(rng, T * Cd), weight = rand(rng, Cd * K), bias = rand(rng, Cd);
  const s1 = new Float32Array((K - 1) * Cd), o1 = new Float32Array(T * Cd);
  conv1dRef({ T, channels: Cd, kernel: K, x, weight, bias, state: s1, out: o1 });
  const s2 = new Float32Array((K - 1) * Cd), o2 = new Float32Array(T * Cd);
  for (let t = 0; t < T; t++) conv1dRef({ T: 1, channels: Cd, kernel: K, x: x.subarray(t * Cd, (t + 1) * Cd), weight, bias, state: s2, out: o2.subarray(t * Cd) });
  assert.deepEqual(o1, o2);
  assert.deepEqual(s1, x.subarray((T - 3) * Cd));
  // hand check: first row sees only itself through tap K−1
  const c = 2;
  const pre = bias[c]! + weight[c * K + K - 1]! * x[c]!;
  assert.ok(Math.abs(o1[c]! - pre / (1 + Math.exp(-pre))) < 1e-6);
});

test('routing: bias changes the selection only; weights are unbiased, renormalized and scaled', () => {
  const logits = Float32Array.from([2, 1, 0, -1]);
  const bias = Float32Array.from([0, 0, 0, 5]); // expert 3 wins the selection through bias alone
  const ids = new Int32Array(2), weights = new Float32Array(2);
  routeRef({ T: 1, numExperts: 4, topK: 2, nGroup: 1, topkGroup: 1, normTopK: true, scale: 2.5, logits, bias, ids, weights });
  assert.deepEqual([...ids], [3, 0]);
  const s = (v: number): number => 1 / (1 + Math.exp(-v));
  const sum = s(-1) + s(2);
  assert.ok(Math.abs(weights[0]! - (2.5 * s(-1)) / sum) < 1e-6);
  assert.ok(Math.abs(weights[1]! - (2.5 * s(2)) / sum) < 1e-6);
  // group-limited: 2 groups of 2; group {2,3} scores higher with the bias → picks come from it only
  routeRef({ T: 1, numExperts: 4, topK: 2, nGroup: 2, topkGroup: 1, normTopK: false, scale: 1, logits, bias, ids, weights });
  assert.deepEqual([...ids], [3, 2]);
  assert.ok(Math.abs(weights[1]! - s(0)) < 1e-6);
});

test('matmul over every storage type equals f32 matmul of the decoded weights', () => {
  const rng = new Rng(4);
  const rows = 3, cols = 64, T = 2;
  const w = rand(rng, rows * cols), x = rand(rng, T * cols);
  const ref = new Float32Array(T * rows);
  matmulRef(ref, x, T, { dtype: 'f32', rows, cols, data: new Uint8Array(w.buffer) });
  for (const dtype of ['f16', 'bf16', 'q8_0', 'q4_0'] as const) {
    const out = new Float32Array(T * rows);
    matmulRef(out, x, T, { dtype, rows, cols, data: fromFloat32(dtype, w) });
    const d = maxAbsDiff(out, ref).maxAbs;
    console.log(`${dtype}: max |Δ| vs f32 ${d.toExponential(2)}`);
    assert.ok(d < (dtype === 'q4_0' ? 3 : dtype === 'q8_0' ? 0.2 : 0.1), `${dtype} drifted ${d}`);
  }
});

test('attention: a single key gets all the weight; causal mask hides later keys; GQA maps heads to KV groups', () => {
  const dh = 2, nq = 2, nkv = 1;
  const q = Float32Array.from([1, 0, 0, 1, 1, 0, 0, 1]); // T=2 queries × 2 heads
  const k = Float32Array.from([1, 0, 0, 1]);
  const v = Float32Array.from([10, 20, 30, 40]);
  const out = new Float32Array(8);
  attentionRef({ T: 2, pos0: 0, numHeads: nq, numKvHeads: nkv, headDim: dh, q, kv: { format: 'f32', k, v }, out });
  assert.deepEqual([...out.subarray(0, 4)], [10, 20, 10, 20], 'position 0 sees only key 0');
  const e = Math.exp(1 / Math.sqrt(2));
  const w0 = e / (e + 1); // head 0 at position 1 prefers key 0
  assert.ok(Math.abs(out[4]! - (w0 * 10 + (1 - w0) * 30)) < 1e-5);
});
