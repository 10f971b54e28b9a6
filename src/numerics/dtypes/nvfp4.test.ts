import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../random.js';
import type { Nvfp4Matrix } from '../tensor.js';
import { e4m3ToF32 } from './fp8.js';
import {
  decodeNvfp4Row,
  nvfp4FakeQuant,
  nvfp4GlobalScaleFromCompressedTensors,
  packNibbles,
  quantizeNvfp4,
  unpackNibbles,
} from './nvfp4.js';
import { codesHex, decodeRows, errors, hex, isBadArgument, VECTOR_C } from '../../testing/codec-probes.js';

/** `actual`, rounded to as many decimals as the spec printed, is the number the spec printed. */
function assertPrinted(actual: number, printed: string, what: string): void {
  const decimals = printed.includes('.') ? printed.split('.')[1]!.length : 0;
  assert.ok(Number(actual.toFixed(decimals)) === Number(printed), `${what}: ${actual} is not ${printed}`); // === : −0 matches 0
}

function roundTrip(x: Float32Array, cols: number, opts?: { globalScale?: number }): { m: Nvfp4Matrix; y: Float32Array } {
  const rows = x.length / cols;
  const m: Nvfp4Matrix = { dtype: 'nvfp4', rows, cols, ...quantizeNvfp4(x, rows, cols, opts) };
  return { m, y: decodeRows(m, decodeNvfp4Row) };
}

const VECTOR_A = new Float32Array([
  0, 0.1, -0.2, 0.25, 0.3, -0.5, 0.75, 1.0, -1.25, 1.5, 1.75, -2.0, 2.5, 3.0, -3.5, 6.0,
  0.01, -0.02, 0.033, 0.047, -0.05, 0.06, 0.071, -0.08, 0.09, 0.1, -0.12, 0.15, 0.2, -0.25, 0.3, 0.37,
]);
const VECTOR_B = new Float32Array([
  20, -1, 0.5, 0.1, 3.3, -7.7, 12, 0, 0.9, -0.45, 1.6, 2.2, -5.1, 9.9, -15, 4.4,
  0.02, 0.015, -0.011, 0.004, 0, 0.009, -0.018, 0.013, 0.007, -0.003, 0.001, 0.016, -0.02, 0.012, 0.005, -0.008,
]);

test('nvfp4: spec §3.2 vector A — codes, block scales, both nibble orders, dequant, RMSE and max error', () => {
  const { m, y } = roundTrip(VECTOR_A, 32);
  assert.equal(hex(m.blockScales), '7E 5E');
  assert.equal(m.globalScale, Math.fround(1 / 448));
  assertPrinted(m.globalScale, '0.002232142957', 's_dec');
  const codes = unpackNibbles(m.data, 32, 'pairs');
  assert.equal(codesHex(codes), '0 0 8 0 1 9 2 2 A 3 4 C 4 5 E 7 0 9 1 2 A 2 2 B 3 3 C 4 5 E 6 7');
  assert.equal(hex(m.data), '00 08 91 22 3A C4 54 7E 90 21 2A B2 33 4C E5 76');
  const split = packNibbles(codes, 'split', 16);
  assert.equal(hex(split), 'A0 30 48 C0 41 59 E2 72 30 39 C1 42 5A E2 62 7B');
  assert.deepEqual(unpackNibbles(split, 32, 'split', 16), codes);
  assert.deepEqual(
    [...y],
    [0, 0, -0, 0, 0.5, -0.5, 1, 1, -1, 1.5, 2, -2, 2, 3, -4, 6, 0, -0.03125, 0.03125, 0.0625, -0.0625, 0.0625, 0.0625,
      -0.09375, 0.09375, 0.09375, -0.125, 0.125, 0.1875, -0.25, 0.25, 0.375],
  );
  const { rmse, max } = errors(VECTOR_A, y);
  assert.equal(max, 0.5); // elements 12 and 14: the ties 2.5 → 2 and −3.5 → −4
  assert.equal(Math.abs(VECTOR_A[12]! - y[12]!), 0.5);
  assert.equal(Math.abs(VECTOR_A[14]! - y[14]!), 0.5);
  assert.equal(rmse.toFixed(4), '0.1624');
});

test('nvfp4: spec §3.3 vector B — the block scale rounds down and 0.02 clips to 6', () => {
  const { m, y } = roundTrip(VECTOR_B, 32);
  assert.equal(hex(m.blockScales), '7E 2E');
  assert.equal(e4m3ToF32(0x2e), 0.4375);
  assert.equal(m.globalScale, Math.fround(20 / 2688)); // ModelOpt's weight_scale_2; see the next test for the spec's digits
  const codes = unpackNibbles(m.data, 32, 'pairs');
  assert.equal(codesHex(codes), '7 9 0 0 2 C 6 0 1 8 1 1 B 5 E 3 7 6 D 2 0 5 F 6 4 A 1 6 F 6 3 C');
  assert.equal(hex(m.data), '97 00 C2 06 81 11 5B 3E 67 2D 50 6F A4 61 6F C3');
  const printed = [
    '20', '-1.6667', '0', '0', '3.3333', '-6.6667', '13.333', '0', '1.6667', '-0', '1.6667', '1.6667', '-5', '10', '-13.333', '5',
    '0.0195313', '0.0130208', '-0.0097656', '0.0032552', '0', '0.0097656', '-0.0195313', '0.0130208', '0.0065104',
    '-0.0032552', '0.0016276', '0.0130208', '-0.0195313', '0.0130208', '0.0048828', '-0.0065104',
  ];
  printed.forEach((p, i) => assertPrinted(y[i]!, p, `element ${i}`));
  assert.ok(Object.is(y[9], -0));
  const sc1 = Math.fround(0.4375 * m.globalScale);
  assertPrinted(Math.fround(0.02 / sc1), '6.144', 'x·e_b of element 16 (clipped to 6)');
});

test('nvfp4: both global-scale conventions — ModelOpt decode weight_scale_2 and compressed-tensors encode global_scale', () => {
  for (const [x, amax] of [[VECTOR_A, 6], [VECTOR_B, 20], [VECTOR_C, 7]] as const) {
    const ctGlobalScale = Math.fround(2688 / amax); // compressed-tensors generate_gparam: an encode scale
    const decode = nvfp4GlobalScaleFromCompressedTensors(ctGlobalScale);
    const modelOpt = quantizeNvfp4(x, 1, 32);
    assert.ok(Math.abs(decode - modelOpt.globalScale) <= 2 * 2 ** -23 * modelOpt.globalScale); // 1/(2688/A) vs A/2688: ≤ 2 ulps
    const viaCt = quantizeNvfp4(x, 1, 32, { globalScale: decode });
    assert.equal(viaCt.globalScale, decode);
    assert.deepEqual(viaCt.data, modelOpt.data);
    assert.deepEqual(viaCt.blockScales, modelOpt.blockScales);
  }
  // Mixing them up wrecks a weight-sized tensor: with amax 0.06 the encode scale is 44800, and read as a decode scale
  // every block scale a_b / (6 · 44800) underflows E4M3, so the whole tensor decodes to zeros.
  const w = VECTOR_A.map((v) => v / 100);
  const wrong = roundTrip(w, 32, { globalScale: Math.fround(2688 / 0.06) });
  assert.ok(wrong.y.every((v) => v === 0));
  assert.ok(errors(w, roundTrip(w, 32).y).max < 0.01);
  // The spec prints s_dec = 0.007440476678 for vector B: that is 1 / fp32(2688 / 20) (TE / compressed-tensors order),
  // while ModelOpt's fp32(20 / 2688) is 0.0074404762; both give identical codes and scales.
  assertPrinted(nvfp4GlobalScaleFromCompressedTensors(Math.fround(2688 / 20)), '0.007440476678', 'B s_dec via 1/s_enc');
  assertPrinted(Math.fround(20 / 2688), '0.0074404762', 'B s_dec via A/2688');
  assert.throws(() => nvfp4GlobalScaleFromCompressedTensors(0), isBadArgument);
});

test('nvfp4: vector C (§3.4) in NVFP4 — block scales 448 and 288, RMSE 0.244, max error 0.833', () => {
  const { m, y } = roundTrip(VECTOR_C, 32);
  assert.deepEqual([...m.blockScales].map(e4m3ToF32), [448, 288]);
  assert.equal(m.globalScale, Math.fround(7 / 2688));
  const { rmse, max } = errors(VECTOR_C, y);
  assert.equal(rmse.toFixed(3), '0.244');
  assert.equal(max.toFixed(3), '0.833');
});

test('nvfp4: zero blocks store scale 1.0 (ModelOpt); blocks whose scale underflows E4M3 store 0 and ±0 codes', () => {
  const x = new Float32Array(48);
  x[0] = 1; // tensor amax 1; block 0 normal
  x.set([1e-7, -1e-7, 0], 16); // block 1: a_b / (6 · s2) ≈ 4.5e-5 < 2^-10 → E4M3 0
  const { m, y } = roundTrip(x, 48); // block 2: all zero
  assert.equal(hex(m.blockScales), '7E 00 38');
  assert.deepEqual([...unpackNibbles(m.data, 48, 'pairs').subarray(16, 19)], [0, 8, 0]);
  assert.ok(y.subarray(16).every((v) => v === 0));
  assert.ok(Object.is(y[17], -0));
  const allZero = quantizeNvfp4(new Float32Array(16), 1, 16);
  assert.equal(allZero.globalScale, 1);
  assert.equal(hex(allZero.blockScales), '38');
});

test('nvfp4: a caller-given decode scale clamps block scales at 448 and saturates elements at ±6', () => {
  const x = new Float32Array([100, -50, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const { m, y } = roundTrip(x, 16, { globalScale: 10 / 2688 }); // calibrated amax 10, runtime amax 100; 1 → v = 0.6 → 0.5
  assert.equal(hex(m.blockScales), '7E');
  const top = Math.fround(448 * m.globalScale);
  assert.deepEqual([...y.subarray(0, 3)], [Math.fround(6 * top), Math.fround(-6 * top), Math.fround(0.5 * top)]);
  assert.throws(() => quantizeNvfp4(x, 1, 16, { globalScale: 0 }), isBadArgument);
});

test('nvfp4: nvfp4FakeQuant equals quantizeNvfp4 → decodeNvfp4Row (dynamic and static global scale)', () => {
  const r = mulberry32(11);
  const x = new Float32Array(80).map((_, i) => (r() * 2 - 1) * (i < 16 ? 40 : 1));
  for (const gs of [0, Math.fround(3 / 2688)]) {
    const fq = x.slice();
    nvfp4FakeQuant(fq, 64, gs);
    const { y } = roundTrip(x.subarray(0, 64), 64, gs === 0 ? undefined : { globalScale: gs });
    assert.deepEqual([...fq.subarray(0, 64)], [...y]);
    assert.deepEqual([...fq.subarray(64)], [...x.subarray(64)]); // beyond n: untouched
  }
  const z = new Float32Array(16);
  nvfp4FakeQuant(z, 16, 0);
  assert.ok(z.every((v) => v === 0));
  assert.throws(() => nvfp4FakeQuant(x, 24, 0), isBadArgument); // not a multiple of 16
  assert.throws(() => nvfp4FakeQuant(x, 16, -1), isBadArgument);
});

test('nvfp4: pack/unpack in both orders, and shape/length errors name the required size', () => {
  const r = mulberry32(2);
  const codes = new Uint8Array(64).map(() => Math.floor(r() * 16));
  for (const [order, block] of [['pairs', 16], ['split', 16], ['split', 32]] as const) {
    assert.deepEqual(unpackNibbles(packNibbles(codes, order, block), 64, order, block), codes);
  }
  assert.equal(hex(packNibbles([1, 2, 3, 4], 'pairs')), '21 43');
  assert.equal(hex(packNibbles([1, 2, 3, 4], 'split', 4)), '31 42');
  assert.throws(() => packNibbles([1, 2, 3], 'pairs'), isBadArgument);
  assert.throws(() => packNibbles(codes, 'split', 24), isBadArgument);
  assert.throws(() => unpackNibbles(new Uint8Array(3), 8, 'pairs'), isBadArgument);
  assert.throws(() => quantizeNvfp4(new Float32Array(24), 1, 24), /multiple of 16/);
  assert.throws(() => quantizeNvfp4(new Float32Array(32), 2, 32), isBadArgument);
  assert.throws(() => quantizeNvfp4(new Float32Array([NaN, ...new Array<number>(15).fill(0)]), 1, 16), isBadArgument);
  const m: Nvfp4Matrix = { dtype: 'nvfp4', rows: 2, cols: 32, ...quantizeNvfp4(new Float32Array(64), 2, 32) };
  assert.throws(() => decodeNvfp4Row(m, 2, new Float32Array(32)), isBadArgument);
  assert.throws(() => decodeNvfp4Row({ ...m, blockScales: m.blockScales.subarray(1) }, 0, new Float32Array(32)), isBadArgument);
  assert.throws(() => decodeNvfp4Row(m, 0, new Float32Array(31)), isBadArgument);
});

/**
 * Round trip bound, per element: with sc = fp32(fp32(d_b) · s2) the block's real scale and v = x / sc, RNE onto the
 * E2M1 grid is off by at most half the local gap (0.25 for |v| ≤ 2, 0.5 up to 4, 1 up to 6) and saturation adds
 * |v| − 6 beyond 6, all times sc; FP32 rounding of v and of the decoded product adds (|x| + 6·sc)·2^-23. Clipping
 * only happens when d_b rounded below a_b / (6·s2): at most one E4M3 half-ulp (v ≤ 6 / (1 − 2^-4), clip ≤ 0.4·sc)
 * while d_b is a normal E4M3 value; subnormal d_b (a_b < ~3.5e-5·A) round more coarsely, and a block with
 * a_b < ~2.2e-6·A gets d_b = 0 and decodes to zeros (spec §2.1). Two tensors: weight-like gaussians (σ 0.02), and
 * rows spanning 1e-4 .. 1e3 with 1 % outliers ×20, which reaches all three regimes.
 */
function checkRoundTrip(x: Float32Array, cols: number, label: string): void {
  const { m, y } = roundTrip(x, cols);
  const w = { gap: 0, clipNormal: 0, clipSub: 0, nClipped: 0, nSub: 0, nVanished: 0, relBlock: 0 };
  for (let i = 0; i < x.length; i++) {
    const d = m.blockScales[Math.floor(i / 16)]!;
    const sc = Math.fround(e4m3ToF32(d) * m.globalScale);
    const err = Math.abs(x[i]! - y[i]!);
    if (sc === 0) {
      assert.ok(y[i] === 0);
      w.nVanished++;
      continue;
    }
    const v = Math.abs(x[i]!) / sc;
    const clip = Math.max(0, v - 6);
    const half = v <= 2 ? 0.25 : v <= 4 ? 0.5 : 1;
    assert.ok(err <= sc * (half + clip) + (Math.abs(x[i]!) + 6 * sc) * 2 ** -23, `${label} element ${i}: error ${err}, v ${v}`);
    if (clip > 0) w.nClipped++;
    else w.gap = Math.max(w.gap, err / sc);
    if (d < 0x08) w.nSub++;
    if (d < 0x08) w.clipSub = Math.max(w.clipSub, clip);
    else w.clipNormal = Math.max(w.clipNormal, clip);
    let amax = 0;
    for (let j = i - (i % 16); j < i - (i % 16) + 16; j++) amax = Math.max(amax, Math.abs(x[j]!));
    if (d >= 0x08) w.relBlock = Math.max(w.relBlock, err / amax);
  }
  assert.ok(w.clipNormal <= 6 / (1 - 2 ** -4) - 6);
  assert.ok(w.gap <= 1 + 2 ** -20);
  const { rmse, max } = errors(x, y);
  const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
  console.log(
    `nvfp4 round trip, ${label} (${x.length / cols}×${cols}, amax ${(m.globalScale * 2688).toPrecision(4)}): RMSE / RMS = ` +
      `${(rmse / rms).toFixed(4)}, max |err| = ${max.toPrecision(4)}, worst |err| / block amax = ${w.relBlock.toFixed(4)} (normal scales); ` +
      `worst unclipped |err| = ${w.gap.toFixed(4)}·sc (bound 1); ${w.nClipped} clipped, worst clip ${w.clipNormal.toFixed(4)}·sc ` +
      `with a normal E4M3 scale (bound 0.4), ${w.clipSub.toFixed(3)}·sc with a subnormal one (${w.nSub} elements); ` +
      `${w.nVanished} elements in blocks whose scale underflowed to 0`,
  );
}

test('nvfp4: quantize → dequantize round trip stays within the derived bound', () => {
  const r = mulberry32(0x4e56);
  const gauss = (): number => (r() + r() + r() + r() - 2) * Math.sqrt(3); // unit variance
  const weights = new Float32Array(256 * 256).map(() => 0.02 * gauss());
  checkRoundTrip(weights, 256, 'gaussian weights σ = 0.02');
  const wide = new Float32Array(64 * 256);
  for (let i = 0; i < wide.length; i++) wide[i] = gauss() * 10 ** (Math.floor(i / 256) % 8 - 4) * (r() < 0.01 ? 20 : 1);
  checkRoundTrip(wide, 256, 'rows spanning 1e-4 .. 1e3');
});
