import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { dequantizeQ5_K, quantizeQ5_K } from './q5-k.js';
import { kQuantNormalRoundTrip, kQuantProbe, quantDequant, sha256 } from '../../testing/codec-probes.js';

test('q5_K: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(176);
  block.set([0x00, 0x38, 0x00, 0x34]); // d = f16 0x3800 = 0.5, dmin = f16 0x3400 = 0.25
  // scale bytes at 4..15, packed as in Q4_K: sub 0 sc 1 m 2; sub 1 sc 3 m 0; sub 5 sc 37 m 50
  block.set([1, 0x83, 0, 0, 2, 0xc0, 0, 0, 0, 0x25, 0, 0], 4);
  block[16 + 0] = 0b10_0001; // qh byte 0: bit 0 = element 0's 5th bit, bit 5 (2c+1, c = 2) = element 160's
  block[16 + 1] = 0b00_0001; // qh byte 1: bit 0 = element 1's 5th bit
  block[48 + 0] = 0x7a; // qs byte 0: element 0 low nibble 10, element 32 low nibble 7
  block[48 + 64] = 0xf0; // qs byte 64: element 128 low nibble 0, element 160 low nibble 15
  const out = new Float32Array(258);
  dequantizeQ5_K(block, 256, out, 2);
  const expected = new Array<number>(256).fill(0); // subs 2, 3, 4, 6, 7 have sc = m = 0
  expected.fill(-0.25 * 2, 0, 32); // sub 0, code 0: −dmin·m = −0.5
  expected.fill(-0.25 * 50, 160, 192); // sub 5, code 0: −12.5
  expected[0] = 0.5 * 1 * (10 + 16) - 0.25 * 2; // 12.5
  expected[1] = 0.5 * 1 * (0 + 16) - 0.25 * 2; // 7.5
  expected[32] = 0.5 * 3 * 7 - 0.25 * 0; // 10.5 (no 5th bit)
  expected[160] = 0.5 * 37 * (15 + 16) - 0.25 * 50; // 561
  assert.deepEqual([...out.subarray(2)], expected);
  assert.deepEqual([...out.subarray(0, 2)], [0, 0]);
});

test('q5_K: an all-zero block quantizes to all-zero bytes', () => {
  assert.ok(quantizeQ5_K(new Float32Array(512)).every((b) => b === 0));
});

test('q5_K: counts that are not a multiple of 256 are rejected', () => {
  const bad = (e: unknown) => e instanceof TandemError && e.code === 'BAD_ARGUMENT' && /multiple of 256/.test(e.message);
  assert.throws(() => quantizeQ5_K(new Float32Array(288)), bad);
  assert.throws(() => dequantizeQ5_K(new Uint8Array(176), 255, new Float32Array(256)), bad);
  assert.throws(() => dequantizeQ5_K(new Uint8Array(175), 256, new Float32Array(256)), TandemError);
  assert.throws(() => dequantizeQ5_K(new Uint8Array(176), 256, new Float32Array(256), 1), TandemError);
});

/**
 * Normal data (Box–Muller; Math.log / Math.cos are fine here, nothing bit-exact depends on them). Per
 * super-block relative RMSE = ‖x − y‖ / ‖x‖. Measured: Q5_K 0.0361 overall, 0.0418 worst block (Q4_K 0.071 /
 * 0.082, Q6_K 0.018 / 0.021 on the same data).
 */
test('q5_K: round trip on normal data, worst per-block relative RMSE', () => {
  const { overall, worst } = kQuantNormalRoundTrip('q5_K', quantizeQ5_K, dequantizeQ5_K);
  assert.ok(worst < 0.05 && overall > 0.025, `relative RMSE overall ${overall}, worst block ${worst}`);
});

/**
 * Agreement with ggml. The two hashes are SHA-256 of what ggml itself produced on `kQuantProbe()`: the blocks from
 * `quantize_row_q5_K_ref`, and the little-endian f32 bytes from `dequantize_row_q5_K` on those blocks. The harness
 * that made them, and the wider comparison it ran, are described at `kQuantProbe` (src/testing/codec-probes.ts).
 */
test('q5_K: matches ggml quantize_row_q5_K_ref and dequantize_row_q5_K bit for bit', () => {
  const { q, y } = quantDequant(kQuantProbe(), quantizeQ5_K, dequantizeQ5_K);
  assert.equal(sha256(q), '146ebdabc253e77c76103426c1c1834ced242d691b8f5fbc94b9bd9dba6bd9a0');
  assert.equal(sha256(y), 'e67ed7ab6ad96b79afdc24c301320522b4d7e11a8bceb1d7a56f3d97362b5f30');
});
