import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantizeGgmlMxfp4, ggmlE8m0Half, ggmlMxfp4Exponent, quantizeGgmlMxfp4 } from './ggml-mxfp4.js';
import { ggmlFp4Probe, hex, isBadArgument, quantDequant, randomBytes, scaledBlocks, sha256, VECTOR_C } from '../../testing/codec-probes.js';

test('ggml mxfp4: hand-assembled block dequantizes to hand-computed values', () => {
  const block = new Uint8Array(17);
  block[0] = 0x7f; // e = 127: d = 2^(127 − 128) = 0.5, so a code's value is kvalues[code] · 0.5 = its E2M1 value
  block.set([0x97, 0x08, 0xfa], 1); // byte j: element j low nibble, element j + 16 high nibble
  const out = new Float32Array(34).fill(7);
  dequantizeGgmlMxfp4(block, 32, out, 1);
  const expected = new Array<number>(34).fill(0);
  expected[0] = 7; // before outOffset: untouched
  expected[33] = 7; // past the block: untouched
  expected[1 + 0] = 12 * 0.5; // byte 0 low  = 7 → 6
  expected[1 + 16] = -1 * 0.5; // byte 0 high = 9 → −0.5
  expected[1 + 1] = 0; // byte 1 low  = 8 → kvalue 0: ggml decodes code 8 as +0
  expected[1 + 2] = -2 * 0.5; // byte 2 low  = 0xA → −1
  expected[1 + 18] = -12 * 0.5; // byte 2 high = 0xF → −6
  assert.deepEqual([...out], expected);
  assert.ok(Object.is(out[2], 0));
  block[0] = 0xff; // not NaN in ggml: 2^127, and 12 · 2^127 overflows FP32
  dequantizeGgmlMxfp4(block, 32, out);
  assert.equal(out[0], Infinity);
  assert.equal(ggmlE8m0Half(0), 2 ** -128);
});

test('ggml mxfp4: floor-rule scale and first-minimum codes — ties go to the smaller magnitude, negatives to +0', () => {
  const x = new Float32Array(32);
  x.set([4, 0.75, 1.25, 2.5, -3.5, 5, 0.25, -0.2, 1.75]); // amax 4: e = floor(log2 4) − 2 + 127 = 127, X = 1
  const q = quantizeGgmlMxfp4(x);
  assert.equal(q[0], 0x7f);
  // element: 4 → 6 (4.0); 0.75 → 1 (0.5, RNE would say 1.0); 1.25 → 2 (1.0); 2.5 → 4 (2.0); −3.5 → 0xD (−3, RNE −4);
  // 5 → 6 (4.0); 0.25 → 0; −0.2 → 0 (+0, not 0x8); 1.75 → 3 (1.5, RNE 2.0); elements 16..31 are 0 → 0.
  assert.equal(hex(q.subarray(1, 10)), '06 01 02 04 0D 06 00 00 03');
  // Spec vector C: same scale byte 0x7F as the OCP floor rule, and the same codes as RNE except −0.1 and −0.15 (code 0,
  // not 8): bytes 7 and 8 differ from the spec's split-half packing of the RNE codes (… 80 58 …).
  assert.equal(hex(quantizeGgmlMxfp4(VECTOR_C)), '7F 17 9D 25 42 A2 29 11 00 50 60 E6 1F 00 93 3C 41');
  assert.equal(hex(quantizeGgmlMxfp4(new Float32Array(32))), '00' + ' 00'.repeat(16)); // all zero: e = 0
});

test('ggml mxfp4: the exponent follows FP32 log2f rounding, and x86 builds wrap the cast for amax < 2^-125', () => {
  // log2f(8·(1 − 2^-24)) rounds to 3.0, so ggml picks e = 128 although floor(log2 amax) is 2 (values from ggml, x86-64).
  assert.equal(ggmlMxfp4Exponent(Math.fround(8 * (1 - 2 ** -24))), 128);
  assert.equal(ggmlMxfp4Exponent(Math.fround(2 * (1 - 2 ** -24))), 125); // here log2f does not round up
  const wrapped: [number, number][] = [[1e-39, 251], [2 ** -126, 255], [1.5 * 2 ** -125, 0], [2 ** -127, 254], [2 ** -149, 232]];
  for (const [amax, e] of wrapped) assert.equal(ggmlMxfp4Exponent(amax), e, `amax ${amax}`);
  assert.equal(ggmlMxfp4Exponent(0), 0);
});

test('ggml mxfp4: counts that are not a multiple of 32 are rejected', () => {
  assert.throws(() => quantizeGgmlMxfp4(new Float32Array(48)), isBadArgument);
  assert.throws(() => dequantizeGgmlMxfp4(new Uint8Array(17), 31, new Float32Array(32)), /multiple of 32/);
  assert.throws(() => dequantizeGgmlMxfp4(new Uint8Array(16), 32, new Float32Array(32)), isBadArgument);
  assert.throws(() => dequantizeGgmlMxfp4(new Uint8Array(17), 32, new Float32Array(31)), isBadArgument);
});

/**
 * Round trip bound: X = 2^(e − 127) and v = |x| / X < 8 (floor rule); the nearest doubled kvalue is off by at most
 * half the local E2M1 gap (0.25 / 0.5 / 1 for v ≤ 2 / 4 / 6) plus the clip v − 6 (< 2), times X. Blocks span 1e-6 .. 1e6.
 */
test('ggml mxfp4: quantize → dequantize round trip stays within the derived bound', () => {
  const x = scaledBlocks(0x1739, 1024, -6, 6, (r) => r() + r() + r() - 1.5);
  const { q, y } = quantDequant(x, quantizeGgmlMxfp4, dequantizeGgmlMxfp4);
  let worst = 0;
  let worstClip = 0;
  for (let i = 0; i < x.length; i++) {
    const X = 2 ** (q[Math.floor(i / 32) * 17]! - 127);
    const v = Math.abs(x[i]!) / X;
    const clip = Math.max(0, v - 6);
    const err = Math.abs(x[i]! - y[i]!);
    assert.ok(err <= ((v <= 2 ? 0.25 : v <= 4 ? 0.5 : 1) + clip) * X, `element ${i}: error ${err}`);
    if (clip === 0) worst = Math.max(worst, err / X);
    worstClip = Math.max(worstClip, clip);
  }
  assert.ok(worstClip < 2);
  console.log(`ggml mxfp4 round trip: worst unclipped |err| = ${worst.toFixed(4)}·X (bound 1), worst clip ${worstClip.toFixed(3)}·X (bound 2)`);
});

/**
 * Agreement with ggml, frozen as SHA-256 hashes. How they were made: a C harness in /tmp (not committed) linked against
 * `libggml-base.so` from node-llama-cpp's prebuilt llama.cpp (`@node-llama-cpp/linux-x64` 3.21.1, x86-64) called
 * `quantize_row_mxfp4_ref` on `ggmlFp4Probe(39)` (src/testing/codec-probes.ts) and `dequantize_row_mxfp4` on
 * `randomBytes()` (random bytes: every scale byte and code), and these are the SHA-256 of its output (blocks; FP32
 * little-endian). The same harness compared 80,000 further mixed blocks (random, grid ties, amax just below powers of
 * two, tiny, huge, zero) byte for byte, and dequantization of 80,000 random blocks, with no difference.
 */
test('ggml mxfp4: matches ggml quantize_row_mxfp4_ref and dequantize_row_mxfp4 bit for bit', () => {
  const x = ggmlFp4Probe(39, { negInf: false });
  assert.equal(sha256(quantizeGgmlMxfp4(x)), '5bac0b6ffc6ca7b706021774cb485b24dbbdcdcbfc16c3d09d5af9eff832a33e');
  const y = new Float32Array(x.length);
  dequantizeGgmlMxfp4(randomBytes(39 + 1000, (x.length / 32) * 17), x.length, y);
  assert.equal(sha256(y), 'ee7df4c93e00841e452238e92646e5527ef00c4a053a9395068b86e7beb54ccc');
});
