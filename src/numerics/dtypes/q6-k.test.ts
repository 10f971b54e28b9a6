import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { dequantizeQ6_K, quantizeQ6_K } from './q6-k.js';
import { kQuantNormalRoundTrip, kQuantProbe, quantDequant, sha256 } from '../../testing/codec-probes.js';

test('q6_K: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(210);
  block.fill(0xaa, 128, 192); // every qh 2-bit field = 2, ql = 0: every code 32, i.e. q − 32 = 0
  block.set([0x00, 0x38], 208); // d = f16 0x3800 = 0.5
  block[192 + 0] = 2; // scales: sub 0 = 2, sub 2 = −3, sub 10 = −128, sub 15 = 127, the rest 0
  block[192 + 2] = 0xfd;
  block[192 + 10] = 0x80;
  block[192 + 15] = 0x7f;
  // element 0 (half 0, k 0, l 0): ql[0] low nibble 15, qh[0] bits 0..1 = 3 → code 63
  block[0] = 0x0f;
  block[128 + 0] = 0xab;
  // element 33 (half 0, k 1, l 1; sub 2): ql[33] low nibble 0, qh[1] bits 2..3 = 0 → code 0
  block[128 + 1] = 0xa2;
  // element 170 (half 1, k 1, l 10; sub 10): ql[64 + 32 + 10] low nibble 15, qh[32 + 10] bits 2..3 = 3 → 63
  block[64 + 32 + 10] = 0x0f;
  block[128 + 32 + 10] = 0xae;
  // element 255 (half 1, k 3, l 31; sub 15): ql[64 + 32 + 31] high nibble 1, qh[32 + 31] bits 6..7 = 0 → 1
  block[64 + 32 + 31] = 0x10;
  block[128 + 32 + 31] = 0x2a;
  // element 69 (half 0, k 2, l 5; sub 4, scale 0): ql[5] high nibble 15 → code 47, still 0
  block[5] = 0xf0;
  const out = new Float32Array(258);
  dequantizeQ6_K(block, 256, out, 2);
  const expected = new Array<number>(256).fill(0);
  expected[0] = 0.5 * 2 * (63 - 32); // 31
  expected[33] = 0.5 * -3 * (0 - 32); // 48
  expected[170] = 0.5 * -128 * (63 - 32); // −1984
  expected[255] = 0.5 * 127 * (1 - 32); // −1968.5
  // `v + 0` turns the −0 of negative-scale sub-blocks (−1.5 · 0) into +0 for deepEqual
  assert.deepEqual([...out.subarray(2)].map((v) => v + 0), expected);
  assert.deepEqual([...out.subarray(0, 2)], [0, 0]);
});

test('q6_K: an all-zero block quantizes to all-zero bytes, as does one below GROUP_MAX_EPS', () => {
  assert.ok(quantizeQ6_K(new Float32Array(512)).every((b) => b === 0));
  assert.ok(quantizeQ6_K(new Float32Array(256).fill(1e-30)).every((b) => b === 0));
});

test('q6_K: counts that are not a multiple of 256 are rejected', () => {
  const bad = (e: unknown) => e instanceof TandemError && e.code === 'BAD_ARGUMENT' && /multiple of 256/.test(e.message);
  assert.throws(() => quantizeQ6_K(new Float32Array(288)), bad);
  assert.throws(() => dequantizeQ6_K(new Uint8Array(210), 255, new Float32Array(256)), bad);
  assert.throws(() => dequantizeQ6_K(new Uint8Array(209), 256, new Float32Array(256)), TandemError);
  assert.throws(() => dequantizeQ6_K(new Uint8Array(210), 256, new Float32Array(256), 1), TandemError);
});

/**
 * Normal data (Box–Muller; Math.log / Math.cos are fine here, nothing bit-exact depends on them). Per
 * super-block relative RMSE = ‖x − y‖ / ‖x‖. Measured: Q6_K 0.0178 overall, 0.0207 worst block (Q4_K 0.071 /
 * 0.082, Q5_K 0.036 / 0.042 on the same data).
 */
test('q6_K: round trip on normal data, worst per-block relative RMSE', () => {
  const { overall, worst } = kQuantNormalRoundTrip('q6_K', quantizeQ6_K, dequantizeQ6_K);
  assert.ok(worst < 0.025 && overall > 0.012, `relative RMSE overall ${overall}, worst block ${worst}`);
});

/**
 * Agreement with ggml. The two hashes are SHA-256 of what ggml itself produced on `kQuantProbe()`: the blocks from
 * `quantize_row_q6_K_ref`, and the little-endian f32 bytes from `dequantize_row_q6_K` on those blocks. The harness
 * that made them, and the wider comparison it ran, are described at `kQuantProbe` (src/testing/codec-probes.ts).
 */
test('q6_K: matches ggml quantize_row_q6_K_ref and dequantize_row_q6_K bit for bit', () => {
  const { q, y } = quantDequant(kQuantProbe(), quantizeQ6_K, dequantizeQ6_K);
  assert.equal(sha256(q), 'fa5b7078f26775ab1da474923c98d019ed925829416ee7fe0faa4a977b789932');
  assert.equal(sha256(y), 'df5641db880996a1e76e6dd903f17ed8c678b80d5c968c156f92d492ec369964');
});
