import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { f16ToF32, f32ToF16 } from './f16.js';
import { dequantizeQ8_0, quantizeQ8_0 } from './q8-0.js';
import { legacyQuantProbe, quantDequant, scaledBlocks, sha256 } from '../../testing/codec-probes.js';

test('q8_0: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(34);
  block.set([0x00, 0x34]); // d = f16 0x3400 = 0.25
  block.set([0x01, 0xff, 0x7f, 0x80, 0x00, 0x02, 0xfe, 0x40], 2); // q = 1, -1, 127, -128, 0, 2, -2, 64; rest 0
  const out = new Float32Array(34);
  dequantizeQ8_0(block, 32, out, 2);
  assert.deepEqual([...out.subarray(0, 10)], [0, 0, 0.25, -0.25, 31.75, -32, 0, 0.5, -0.5, 16]);
  assert.ok(out.subarray(10).every((v) => v === 0));
});

test('q8_0: hand-computed quantization (roundf ties go away from zero)', () => {
  const x = new Float32Array(32);
  x.set([127, -63.5, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49]); // amax 127 → d = 1, id = 1
  const q = quantizeQ8_0(x);
  assert.deepEqual([...q.subarray(0, 2)], [0x00, 0x3c]); // f16(1.0)
  const codes = [...q.subarray(2, 10)].map((b) => (b << 24) >> 24);
  assert.deepEqual(codes, [127, -64, 1, -1, 2, 3, -3, 0]);
  assert.ok(q.subarray(10).every((b) => b === 0));
});

test('q8_0: all-zero block gives d = 0 and zero codes', () => {
  const q = quantizeQ8_0(new Float32Array(64));
  assert.ok(q.every((b) => b === 0));
  const y = new Float32Array(64).fill(7);
  dequantizeQ8_0(q, 64, y);
  assert.ok(y.every((v) => v === 0));
});

test('q8_0: counts that are not a multiple of 32 are rejected', () => {
  assert.throws(() => quantizeQ8_0(new Float32Array(33)), (e) => e instanceof TandemError && e.code === 'BAD_ARGUMENT');
  assert.throws(() => dequantizeQ8_0(new Uint8Array(34), 16, new Float32Array(16)), TandemError);
  assert.throws(() => dequantizeQ8_0(new Uint8Array(33), 32, new Float32Array(32)), TandemError);
});

/**
 * Error bound, per element. With d = fl(amax/127) (f32) the quantizer picks q = roundf(x·id), |x/d| ≤ 127,
 * so in exact arithmetic |x − q·d| ≤ d/2. f32 rounding of id = 1/d and of x·id moves x·id by at most
 * ~127·2^-23 ≈ 1.5e-5 units, and the final product q·d16 is rounded to f32 (≤ 127·2^-24 units): together
 * below 2^-15·d. Dequant then uses the stored d16 = f16(d), not d, which adds |q|·|d − d16| ≤ 127·|d − d16|:
 * at most 127·2^-11·d ≈ 0.062·d while d16 is a normal f16 (d ≥ 2^-14, i.e. amax ≥ ~0.0078), but up to 127·d
 * once d underflows to an f16 subnormal or zero (amax below ~7.6e-6 quantizes to all zeros). So:
 *     |x − q·d16| ≤ d·(1/2 + 2^-15) + 127·|d − d16|
 * The data below spans block magnitudes 1e-7 .. 1e2 so both regimes are exercised and reported separately.
 */
test('q8_0: quantize → dequantize round trip stays within the derived bound', () => {
  const nBlocks = 4096;
  const x = scaledBlocks(0x5eed, nBlocks, -7, 2, (r) => r() * 2 - 1);
  const { y } = quantDequant(x, quantizeQ8_0, dequantizeQ8_0);
  const worst = { normal: 0, nNormal: 0, subnormal: 0, nSubnormal: 0, slack: -Infinity }; // errors in units of d
  for (let b = 0; b < nBlocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = Math.fround(amax / 127);
    const d16 = f16ToF32(f32ToF16(d));
    const bound = d * (0.5 + 2 ** -15) + 127 * Math.abs(d - d16);
    const regime = d16 >= 2 ** -14 ? 'normal' : 'subnormal';
    worst[regime === 'normal' ? 'nNormal' : 'nSubnormal']++;
    for (let j = 0; j < 32; j++) {
      const err = Math.abs(x[b * 32 + j]! - y[b * 32 + j]!);
      worst[regime] = Math.max(worst[regime], err / d);
      worst.slack = Math.max(worst.slack, (err - bound) / d);
      assert.ok(err <= bound, `block ${b} element ${j}: error ${err} > bound ${bound}`);
    }
  }
  assert.ok(worst.normal <= 0.5 + 127 * 2 ** -11 + 2 ** -15);
  console.log(
    `q8_0 round trip: worst |x−y| = ${worst.normal.toFixed(6)}·d over ${worst.nNormal} blocks with a normal f16 scale ` +
      `(${(worst.normal * 2).toFixed(6)}·d/2), ${worst.subnormal.toFixed(3)}·d over ${worst.nSubnormal} blocks whose scale ` +
      `underflows f16; worst (err − bound) = ${worst.slack.toFixed(6)}·d`,
  );
});

/**
 * Agreement with ggml: `quantize_row_q8_0_ref` (libggml-base.so from node-llama-cpp's llama.cpp build) on
 * `legacyQuantProbe(254)` (src/testing/codec-probes.ts); this is the SHA-256 of its output blocks. The same comparison
 * (and of `dequantize_row_q8_0`) was also run once on 20,000 mixed blocks with no byte differing.
 */
test('q8_0: matches ggml quantize_row_q8_0_ref byte for byte', () => {
  const digest = sha256(quantizeQ8_0(legacyQuantProbe(254)));
  assert.equal(digest, 'f4442b39519dec51cb6c582fcfd0d58fd8ed90a58a5df0378043cc1bd5f15a37');
});
