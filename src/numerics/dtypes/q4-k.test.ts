import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { dequantizeQ4_K, getScaleMinK4, nearestInt, quantizeQ4_K } from './q4-k.js';
import { kQuantNormalRoundTrip, kQuantProbe, quantDequant, sha256 } from '../../testing/codec-probes.js';

test('q4_K: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(144);
  block.set([0x00, 0x38, 0x00, 0x34]); // d = f16 0x3800 = 0.5, dmin = f16 0x3400 = 0.25
  // scale bytes s[0..11] at 4..15: sub 0 sc 1 m 2; sub 1 sc 3 m 0; sub 5 sc 37 = 0b10_0101, m 50 = 0b11_0010
  block[4 + 0] = 1; // sc[0]
  block[4 + 4] = 2; // m[0]
  block[4 + 1] = 3 | ((37 >> 4) << 6); // sc[1] = 3, plus the top 2 bits of sc[5] (2) in bits 6..7: 0x83
  block[4 + 5] = 0 | ((50 >> 4) << 6); // m[1] = 0, plus the top 2 bits of m[5] (3): 0xc0
  block[4 + 9] = (37 & 15) | ((50 & 15) << 4); // low nibbles of sc[5] (5) and m[5] (2): 0x25
  block[16 + 0] = 0x7a; // element 0 (sub 0) = 10, element 32 (sub 1) = 7
  block[16 + 64] = 0xf0; // element 128 (sub 4) = 0, element 160 (sub 5) = 15
  assert.deepEqual(getScaleMinK4(1, block, 4), [3, 0]);
  assert.deepEqual(getScaleMinK4(5, block, 4), [37, 50]);
  const out = new Float32Array(258);
  dequantizeQ4_K(block, 256, out, 2);
  const expected = new Array<number>(256).fill(0); // subs 2, 3, 4, 6, 7 have sc = m = 0
  expected.fill(-0.25 * 2, 0, 32); // sub 0, code 0: −dmin·m = −0.5
  expected.fill(-0.25 * 50, 160, 192); // sub 5, code 0: −12.5
  expected[0] = 0.5 * 1 * 10 - 0.25 * 2; // 4.5
  expected[32] = 0.5 * 3 * 7 - 0.25 * 0; // 10.5
  expected[160] = 0.5 * 37 * 15 - 0.25 * 50; // 265
  assert.deepEqual([...out.subarray(2)], expected);
  assert.deepEqual([...out.subarray(0, 2)], [0, 0]);
});

test('q4_K: nearestInt is ggml nearest_int (round half to even via the 1.5·2^23 trick)', () => {
  const xs = [0.5, 1.5, 2.5, -0.5, -1.5, Math.fround(2.4999998), 7.5, 4194303];
  assert.deepEqual(xs.map(nearestInt), [0, 2, 2, 0, -2, 2, 8, 4194303]);
});

test('q4_K: an all-zero block quantizes to all-zero bytes', () => {
  assert.ok(quantizeQ4_K(new Float32Array(512)).every((b) => b === 0));
});

test('q4_K: counts that are not a multiple of 256 are rejected', () => {
  const bad = (e: unknown) => e instanceof TandemError && e.code === 'BAD_ARGUMENT' && /multiple of 256/.test(e.message);
  assert.throws(() => quantizeQ4_K(new Float32Array(288)), bad);
  assert.throws(() => dequantizeQ4_K(new Uint8Array(144), 255, new Float32Array(256)), bad);
  assert.throws(() => dequantizeQ4_K(new Uint8Array(143), 256, new Float32Array(256)), TandemError);
  assert.throws(() => dequantizeQ4_K(new Uint8Array(144), 256, new Float32Array(256), 1), TandemError);
});

/**
 * Normal data (Box–Muller; Math.log / Math.cos are fine here, nothing bit-exact depends on them). Per
 * super-block relative RMSE = ‖x − y‖ / ‖x‖. Measured: Q4_K 0.0713 overall, 0.0817 worst block (Q5_K 0.036 /
 * 0.042, Q6_K 0.018 / 0.021 on the same data).
 */
test('q4_K: round trip on normal data, worst per-block relative RMSE', () => {
  const { overall, worst } = kQuantNormalRoundTrip('q4_K', quantizeQ4_K, dequantizeQ4_K);
  assert.ok(worst < 0.1 && overall > 0.05, `relative RMSE overall ${overall}, worst block ${worst}`);
});

/**
 * Agreement with ggml. The two hashes are SHA-256 of what ggml itself produced on `kQuantProbe()`: the blocks from
 * `quantize_row_q4_K_ref`, and the little-endian f32 bytes from `dequantize_row_q4_K` on those blocks. The harness
 * that made them, and the wider comparison it ran, are described at `kQuantProbe` (src/testing/codec-probes.ts).
 */
test('q4_K: matches ggml quantize_row_q4_K_ref and dequantize_row_q4_K bit for bit', () => {
  const { q, y } = quantDequant(kQuantProbe(), quantizeQ4_K, dequantizeQ4_K);
  assert.equal(sha256(q), 'd0eef3db8d2c91c2d55f18d0cd8549ba7d8e09eb1a78a24b111e5d51bc193480');
  assert.equal(sha256(y), '2a694026496634d48ab1d18243d86a924dccaa24cb6d0288d5311a60b61b085b');
});
