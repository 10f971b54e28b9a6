import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { f16ToF32, f32ToF16 } from './f16.js';
import { dequantizeQ4_0, quantizeQ4_0 } from './q4-0.js';
import { legacyQuantProbe, quantDequant, scaledBlocks, sha256 } from '../../testing/codec-probes.js';

test('q4_0: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(18).fill(0x88); // nibble 8 → 0
  block.set([0x00, 0x38]); // d = f16 0x3800 = 0.5
  block.set([0x80, 0xf7, 0x3a], 2); // byte j: element j low nibble, element j+16 high nibble
  const out = new Float32Array(32);
  dequantizeQ4_0(block, 32, out);
  const expected = new Array<number>(32).fill(0);
  expected[0] = (0 - 8) * 0.5; // -4      (byte 0 low  = 0)
  expected[16] = (8 - 8) * 0.5; // 0      (byte 0 high = 8)
  expected[1] = (7 - 8) * 0.5; // -0.5    (byte 1 low  = 7)
  expected[17] = (15 - 8) * 0.5; // 3.5   (byte 1 high = 15)
  expected[2] = (10 - 8) * 0.5; // 1      (byte 2 low  = 10)
  expected[18] = (3 - 8) * 0.5; // -2.5   (byte 2 high = 3)
  assert.deepEqual([...out], expected);
});

test('q4_0: hand-computed quantization, including the clamp at code 15', () => {
  const x = new Float32Array(32);
  // max |x| is 8, first reached at element 0 (value -8): d = -8 / -8 = 1, id = 1, code = min(15, trunc(x + 8.5)).
  x.set([-8, 7.5, 0.5, -0.5, 1.49]);
  x.set([8, -7.6], 16);
  const q = quantizeQ4_0(x);
  assert.deepEqual([...q.subarray(0, 2)], [0x00, 0x3c]); // f16(1.0)
  assert.deepEqual([...q.subarray(2, 7)], [
    0x00 | (0xf << 4), // el 0: -8 → 0;            el 16: 8 → trunc(16.5) = 16 → clamped to 15
    0x0f | (0x0 << 4), // el 1: 7.5 → 16 → 15;     el 17: -7.6 → trunc(0.9) = 0
    0x09 | (0x8 << 4), // el 2: 0.5 → trunc(9) = 9 (halves round up); el 18: 0 → 8
    0x08 | (0x8 << 4), // el 3: -0.5 → trunc(8) = 8
    0x09 | (0x8 << 4), // el 4: 1.49 → trunc(9.99) = 9
  ]);
  assert.ok(q.subarray(7).every((b) => b === 0x88));
  const y = new Float32Array(32);
  dequantizeQ4_0(q, 32, y);
  assert.equal(y[16], 7); // clamped: error 1 = |d|, the worst case
  assert.equal(y[1], 7); // clamped: error 0.5
});

test('q4_0: counts that are not a multiple of 32 are rejected', () => {
  assert.throws(() => quantizeQ4_0(new Float32Array(48)), (e) => e instanceof TandemError && e.code === 'BAD_ARGUMENT');
  assert.throws(() => dequantizeQ4_0(new Uint8Array(18), 31, new Float32Array(32)), TandemError);
  assert.throws(() => dequantizeQ4_0(new Uint8Array(17), 32, new Float32Array(32)), TandemError);
});

/**
 * Error bound, per element. Let m be the block's signed max-magnitude element, d = m / -8 and v = x·id ≈ x/d,
 * so v ∈ [-8, 8] and the element m itself has v = -8. The code is trunc(v + 8.5) = floor(v + 8.5), i.e. v
 * rounded half up, plus 8, then clamped to 15:
 *   - unclamped (v < 7.5): |v − (code − 8)| ≤ 1/2, so |x − (code − 8)·d| ≤ |d|/2;
 *   - clamped (v ≥ 7.5, only for elements of the opposite sign to m with |x| ≥ 15/16·|m|): code − 8 = 7 and
 *     v ≤ 8, so the error is (v − 7)·|d| ≤ |d|, reached when x = −m (hand test above).
 * f32 rounding of id, of x·id and of v + 8.5 moves v by at most ~2^-19 near a rounding edge, and the final
 * product is rounded to f32: below 2^-16·|d| in all. Dequant uses d16 = f16(d), adding |code − 8|·|d − d16|,
 * at most 8·|d − d16| (7 when clamped): ≤ 8·2^-11·|d| ≈ 0.004·|d| while d16 is a normal f16 (|d| ≥ 2^-14, i.e.
 * amax ≥ ~0.00049), much more once d underflows to an f16 subnormal. So:
 *     unclamped: |err| ≤ |d|·(1/2 + 2^-16) + 8·|d − d16|      clamped: |err| ≤ |d|·(1 + 2^-16) + 7·|d − d16|
 * The data below spans block magnitudes 1e-7 .. 1e2 so both regimes are exercised; the worst errors printed
 * are for normal-scale blocks, and the underflow regime is reported separately.
 */
test('q4_0: quantize → dequantize round trip stays within the derived bound', () => {
  const nBlocks = 4096;
  const x = scaledBlocks(0x5eed, nBlocks, -7, 2, (r) => r() * 2 - 1);
  const { y } = quantDequant(x, quantizeQ4_0, dequantizeQ4_0);
  const worst = { unclamped: 0, clamped: 0, nClamped: 0, subnormal: 0, nSubnormal: 0, slack: -Infinity }; // units of |d|
  for (let b = 0; b < nBlocks; b++) {
    let amax = 0;
    let m = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j]!;
      if (amax < Math.abs(v)) [amax, m] = [Math.abs(v), v];
    }
    const d = Math.fround(m / -8);
    const ad = Math.abs(d);
    const d16 = f16ToF32(f32ToF16(d));
    const dd = Math.abs(d - d16);
    const normal = Math.abs(d16) >= 2 ** -14;
    if (!normal) worst.nSubnormal++;
    for (let j = 0; j < 32; j++) {
      const clamped = x[b * 32 + j]! / d >= 7.5;
      const err = Math.abs(x[b * 32 + j]! - y[b * 32 + j]!);
      const bound = clamped ? ad * (1 + 2 ** -16) + 7 * dd : ad * (0.5 + 2 ** -16) + 8 * dd;
      const key = !normal ? 'subnormal' : clamped ? 'clamped' : 'unclamped';
      if (normal && clamped) worst.nClamped++;
      worst[key] = Math.max(worst[key], err / ad);
      worst.slack = Math.max(worst.slack, (err - bound) / ad);
      assert.ok(err <= bound, `block ${b} element ${j}: error ${err} > bound ${bound}`);
    }
  }
  assert.ok(worst.unclamped <= 0.5 + 8 * 2 ** -11 + 2 ** -16);
  assert.ok(worst.clamped <= 1 + 7 * 2 ** -11 + 2 ** -16);
  console.log(
    `q4_0 round trip, ${nBlocks - worst.nSubnormal} blocks with a normal f16 scale: worst |x−y| unclamped = ` +
      `${worst.unclamped.toFixed(6)}·|d|, clamped (${worst.nClamped} elements) = ${worst.clamped.toFixed(6)}·|d|; ` +
      `${worst.subnormal.toFixed(3)}·|d| over ${worst.nSubnormal} blocks whose scale underflows f16; ` +
      `worst (err − bound) = ${worst.slack.toFixed(6)}·|d|`,
  );
});

/**
 * Agreement with ggml: `quantize_row_q4_0_ref` (libggml-base.so from node-llama-cpp's llama.cpp build) on
 * `legacyQuantProbe(16)` (src/testing/codec-probes.ts); this is the SHA-256 of its output blocks. The same comparison
 * (and of `dequantize_row_q4_0`) was also run once on 20,000 mixed blocks with no byte differing.
 */
test('q4_0: matches ggml quantize_row_q4_0_ref byte for byte', () => {
  const digest = sha256(quantizeQ4_0(legacyQuantProbe(16)));
  assert.equal(digest, '3964ea15da55314c2e826233c1ba7020cd987bbc09a03865ba7eb4679b4d669d');
});
