import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TandemError } from '../../errors.js';
import { dequantizeQ4_K, getScaleMinK4, nearestInt, quantizeQ4_K } from './q4-k.js';
import { mulberry32 } from '../random.js';

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
  const nBlocks = 1024;
  const r = mulberry32(0xc0ffee);
  const x = new Float32Array(nBlocks * 256);
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.02;
  const y = new Float32Array(x.length);
  dequantizeQ4_K(quantizeQ4_K(x), x.length, y);
  let [worst, errAll, sigAll] = [0, 0, 0];
  for (let b = 0; b < nBlocks; b++) {
    let [err, sig] = [0, 0];
    for (let i = b * 256; i < (b + 1) * 256; i++) [err, sig] = [err + (x[i]! - y[i]!) ** 2, sig + x[i]! ** 2];
    worst = Math.max(worst, Math.sqrt(err / sig));
    [errAll, sigAll] = [errAll + err, sigAll + sig];
  }
  const overall = Math.sqrt(errAll / sigAll);
  console.log(`q4_K round trip, ${nBlocks} blocks of N(0, 0.02²): relative RMSE ${overall.toFixed(5)} overall, worst block ${worst.toFixed(5)}`);
  assert.ok(worst < 0.1 && overall > 0.05, `relative RMSE overall ${overall}, worst block ${worst}`);
});

/**
 * Agreement with ggml. The two hashes are SHA-256 of what ggml itself produced on `probe()`: the blocks from
 * `quantize_row_q4_K_ref`, and the little-endian f32 bytes from `dequantize_row_q4_K` on those blocks. They
 * came from a small C harness (stdin f32 → stdout blocks, then floats) linked against libggml-base.so of
 * node-llama-cpp's llama.cpp build (node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/, release
 * v0.4.0), fed `probe()`'s bytes. That harness also compared 40,000 more super-blocks of mixed data (normal at
 * scales 1e-40 .. 1e38 incl. f32 overflow, zeros, outliers, one-signed, ties, sparse, constant) and 2,000
 * random-byte blocks through the dequantizer with this file's code: no byte or bit differed.
 */
test('q4_K: matches ggml quantize_row_q4_K_ref and dequantize_row_q4_K bit for bit', () => {
  const x = probe();
  const q = quantizeQ4_K(x);
  const y = new Float32Array(x.length);
  dequantizeQ4_K(q, x.length, y);
  assert.equal(createHash('sha256').update(q).digest('hex'), 'd0eef3db8d2c91c2d55f18d0cd8549ba7d8e09eb1a78a24b111e5d51bc193480');
  assert.equal(createHash('sha256').update(new Uint8Array(y.buffer)).digest('hex'), '2a694026496634d48ab1d18243d86a924dccaa24cb6d0288d5311a60b61b085b');
});

/**
 * 288 super-blocks of nine kinds (b % 9), arithmetic only (no Math.log etc.) so the input is the same on
 * every platform: roughly normal (a sum of four uniforms), all zero, one ±1000× outlier, negative only,
 * positive only, tiny (2^-60 .. 2^-145: f16 scales underflow, f32 subnormals), a 1/8 grid (ties), sparse,
 * constant; scales (1 .. 2)·2^(-30 .. 9).
 */
function probe(): Float32Array {
  const r = mulberry32(0x4b515541);
  const x = new Float32Array(288 * 256);
  for (let b = 0; b < 288; b++) {
    const scale = (1 + r()) * 2 ** (Math.floor(r() * 40) - 30);
    const tiny = 2 ** -(60 + Math.floor(r() * 86));
    const spike = Math.floor(r() * 256);
    for (let j = 0; j < 256; j++) {
      const g = r() + r() + r() + r() - 2;
      const sparse = r() < 0.1 ? g : 0;
      const kinds = [g, 0, j === spike ? (b & 1 ? -1000 : 1000) : g, -Math.abs(g), Math.abs(g), 0, Math.round(g * 8) / 8, sparse, 1];
      x[b * 256 + j] = b % 9 === 5 ? g * tiny : kinds[b % 9]! * scale;
    }
  }
  return x;
}
