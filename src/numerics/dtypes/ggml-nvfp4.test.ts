import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../random.js';
import { f32ToE4m3 } from './fp8.js';
import { dequantizeGgmlNvfp4, ggmlF32ToUe4m3, ggmlUe4m3Half, quantizeGgmlNvfp4 } from './ggml-nvfp4.js';
import { quantizeNvfp4, decodeNvfp4Row } from './nvfp4.js';
import { decodeRows, ggmlFp4Probe, hex, isBadArgument, quantDequant, randomBytes, sha256 } from '../../testing/codec-probes.js';

test('ggml nvfp4: ggml_ue4m3_to_fp32 returns half the UE4M3 value; 0x00 and 0x7F are 0, bit 7 is ignored', () => {
  const cases: [number, number][] = [
    [0x38, 0.5], [0x7e, 224], [0x77, 120], [0x01, 2 ** -10], [0x08, 2 ** -7], [0x00, 0], [0x7f, 0], [0x80, 0], [0xff, 240], [0xb8, 0.5],
  ];
  for (const [byte, half] of cases) assert.equal(ggmlUe4m3Half(byte), half, `byte ${byte}`);
});

test('ggml nvfp4: ggml_fp32_to_ue4m3 rounds half up, keeps subnormals below 2^-6 at ≤ 7, and sends x ≥ 248 to 0x7E', () => {
  const cases: [number, number, number][] = [
    // input, ggml byte, RNE E4M3 byte for comparison
    [1.0, 0x38, 0x38],
    [1.0625, 0x39, 0x38], // the tie 1 + 1/16: half up, not to even
    [240, 0x77, 0x77],
    [247.9, 0x77, 0x77],
    [248, 0x7e, 0x78], // rounds up into the top binade, which ggml collapses to 448
    [300, 0x7e, 0x79], // every value in [256, 448] is coded 448
    [448, 0x7e, 0x7e],
    [1e9, 0x7e, 0x7e],
    [7.4 * 2 ** -9, 0x07, 0x07],
    [7.6 * 2 ** -9, 0x07, 0x08], // (int)(x·512 + 0.5) = 8 is clamped to 7 instead of becoming 2^-6
    [0.5 * 2 ** -9, 0x01, 0x00], // subnormal tie: half up
    [0.49 * 2 ** -9, 0x00, 0x00],
    [0, 0x00, 0x00],
  ];
  for (const [x, ggml, rne] of cases) {
    assert.equal(ggmlF32ToUe4m3(x), ggml, `ggml ${x}`);
    assert.equal(f32ToE4m3(x), rne, `RNE ${x}`);
  }
  assert.equal(ggmlF32ToUe4m3(-1), 0);
  assert.equal(ggmlF32ToUe4m3(NaN), 0);
});

test('ggml nvfp4: spec vectors A and B as one super-block — no tensor scale, UE4M3 scales, first-minimum codes', () => {
  const x = new Float32Array([
    0, 0.1, -0.2, 0.25, 0.3, -0.5, 0.75, 1.0, -1.25, 1.5, 1.75, -2.0, 2.5, 3.0, -3.5, 6.0,
    0.01, -0.02, 0.033, 0.047, -0.05, 0.06, 0.071, -0.08, 0.09, 0.1, -0.12, 0.15, 0.2, -0.25, 0.3, 0.37,
    20, -1, 0.5, 0.1, 3.3, -7.7, 12, 0, 0.9, -0.45, 1.6, 2.2, -5.1, 9.9, -15, 4.4,
    0.02, 0.015, -0.011, 0.004, 0, 0.009, -0.018, 0.013, 0.007, -0.003, 0.001, 0.016, -0.02, 0.012, 0.005, -0.008,
  ]);
  const q = quantizeGgmlNvfp4(x);
  // Scales: 6/6 → 1.0 (0x38); 0.37/6 → 0.0625 (0x18); 20/6 = 3.33 → 3.25 (0x45); 0.02/6 = 0.00333 → subnormal
  // 2·2^-9 = 0.0039 (0x02, +17 %), the effect spec §2.4 describes.
  assert.equal(hex(q.subarray(0, 4)), '38 18 45 02');
  assert.equal(
    hex(q.subarray(4)),
    'A0 30 30 C0 41 59 D1 72 30 39 C1 42 5A E2 62 7B 17 09 10 10 B2 5C E6 30 47 A6 1D 62 F0 54 3E C5',
  ); // frozen from ggml's quantize_row_nvfp4_ref (same harness as the hash test below)
  const y = new Float32Array(64);
  dequantizeGgmlNvfp4(q, 64, y);
  // Sub-block 0 is a pure E2M1 rounding test with ggml's ties: 0.25 → 0, 0.75 → 0.5, 1.75 → 1.5, −3.5 → −3, −0.2 → +0.
  assert.deepEqual([...y.subarray(0, 16)], [0, 0, 0, 0, 0.5, -0.5, 0.5, 1, -1, 1.5, 1.5, -2, 2, 3, -3, 6]);
  assert.deepEqual([...y.subarray(32, 48)], [19.5, -1.625, 0, 0, 3.25, -6.5, 13, 0, 1.625, 0, 1.625, 1.625, -4.875, 9.75, -13, 4.875]);
  assert.equal(y[48], 0.0234375); // 0.02 → 6 · 0.0039: +17 % (NVFP4 with its tensor scale gives 0.0195)
});

test('ggml nvfp4: counts that are not a multiple of 64 are rejected', () => {
  assert.throws(() => quantizeGgmlNvfp4(new Float32Array(32)), /multiple of 64/);
  assert.throws(() => dequantizeGgmlNvfp4(new Uint8Array(36), 32, new Float32Array(64)), isBadArgument);
  assert.throws(() => dequantizeGgmlNvfp4(new Uint8Array(35), 64, new Float32Array(64)), isBadArgument);
  assert.throws(() => dequantizeGgmlNvfp4(new Uint8Array(36), 64, new Float32Array(64), 1), isBadArgument);
});

/**
 * Round trip bound, per element: with S = 2·ue4m3_half(d) the sub-block's real scale and v = |x| / S, the nearest
 * doubled kvalue is off by at most half the local E2M1 gap (0.25 / 0.5 / 1 for v ≤ 2 / 4 / 6) plus the clip v − 6,
 * times S; a zero scale decodes to 0 (error |x|). Clipping comes from the scale rounding down: half-up rounding of a
 * normal UE4M3 is within 2^-4 relative, so v ≤ 6 / (1 − 2^-4) then. Weight-like data (σ = 0.02, the spec's
 * "Q3_K-like" case) is compared with NVFP4 with a tensor scale (./nvfp4.ts) on the same values.
 */
test('ggml nvfp4: quantize → dequantize round trip stays within the derived bound', () => {
  const r = mulberry32(0x4040);
  const gauss = (): number => (r() + r() + r() + r() - 2) * Math.sqrt(3);
  for (const [label, sigma] of [['σ = 1', 1], ['weight-like σ = 0.02', 0.02]] as const) {
    const x = new Float32Array(256 * 256).map(() => sigma * gauss());
    const { q, y } = quantDequant(x, quantizeGgmlNvfp4, dequantizeGgmlNvfp4);
    let worst = 0;
    let clipNormal = 0;
    let sq = 0;
    for (let i = 0; i < x.length; i++) {
      const d = q[Math.floor(i / 64) * 36 + (Math.floor(i / 16) % 4)]!;
      const S = 2 * ggmlUe4m3Half(d);
      const err = Math.abs(x[i]! - y[i]!);
      sq += err * err;
      if (S === 0) {
        assert.ok(y[i] === 0);
        continue;
      }
      const v = Math.abs(x[i]!) / S;
      const clip = Math.max(0, v - 6);
      assert.ok(err <= ((v <= 2 ? 0.25 : v <= 4 ? 0.5 : 1) + clip) * S, `${label} element ${i}: error ${err}`);
      if (clip === 0) worst = Math.max(worst, err / S);
      if (d >= 0x08) clipNormal = Math.max(clipNormal, clip);
    }
    assert.ok(clipNormal <= 6 / (1 - 2 ** -4) - 6);
    const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    const ref = nvfp4RelRmse(x);
    console.log(
      `ggml nvfp4 round trip, ${label}: RMSE / RMS = ${(Math.sqrt(sq / x.length) / rms).toFixed(4)} ` +
        `(NVFP4 with a tensor scale: ${ref.toFixed(4)}); worst unclipped |err| = ${worst.toFixed(4)}·S (bound 1), ` +
        `worst clip with a normal scale ${clipNormal.toFixed(4)}·S (bound 0.4)`,
    );
  }
});

function nvfp4RelRmse(x: Float32Array): number {
  const y = decodeRows({ dtype: 'nvfp4', rows: 1, cols: x.length, ...quantizeNvfp4(x, 1, x.length) }, decodeNvfp4Row);
  let sq = 0;
  let ss = 0;
  for (let i = 0; i < x.length; i++) {
    sq += (x[i]! - y[i]!) ** 2;
    ss += x[i]! ** 2;
  }
  return Math.sqrt(sq / ss);
}

/**
 * Agreement with ggml, frozen as SHA-256 hashes. How they were made: a C harness in /tmp (not committed) linked against
 * `libggml-base.so` from node-llama-cpp's prebuilt llama.cpp (`@node-llama-cpp/linux-x64` 3.21.1, x86-64) called
 * `quantize_row_nvfp4_ref` on `ggmlFp4Probe(40)` (src/testing/codec-probes.ts) and `dequantize_row_nvfp4` on
 * `randomBytes()` (random bytes: every scale byte and code), and these are the SHA-256 of its output (blocks; FP32
 * little-endian). The same harness compared 40,000 further mixed super-blocks (random, grid ties, UE4M3 top-binade and
 * subnormal scales, tiny, huge, zero, NaN, ±Inf) byte for byte, and dequantization of 40,000 random super-blocks, with
 * no difference.
 */
test('ggml nvfp4: matches ggml quantize_row_nvfp4_ref and dequantize_row_nvfp4 bit for bit', () => {
  const x = ggmlFp4Probe(40, { negInf: true });
  assert.equal(sha256(quantizeGgmlNvfp4(x)), 'df214e5611eb37e0708020a38a7f1bf11f5b68f760d84dd7a5fff61080f900b1');
  const y = new Float32Array(x.length);
  dequantizeGgmlNvfp4(randomBytes(40 + 1000, (x.length / 64) * 36), x.length, y);
  assert.equal(sha256(y), '8859e828f9cf88e9f041f973d837c77185a81e009aca1fc6f0a0c6a477118090');
});
