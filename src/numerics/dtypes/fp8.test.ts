import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { mulberry32 } from '../random.js';
import {
  decodeFp8,
  decodeFp8Row,
  e4m3ToF32,
  e5m2ToF32,
  encodeFp8,
  f32ToE4m3,
  f32ToE5m2,
  fp8FakeQuant,
  quantizeFp8PerTensor,
} from './fp8.js';

const isBadArgument = (e: unknown): boolean => e instanceof TandemError && e.code === 'BAD_ARGUMENT';
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Oracle of the spec's Appendix A: every positive finite value of the format with its code, and saturating RNE by
 * search (ties to the even code). Independent of the bit tricks in fp8.ts.
 */
function grid(ebits: number, mbits: number, bias: number, ieee: boolean): { v: number[]; c: number[] } {
  const v: number[] = [];
  const c: number[] = [];
  for (let code = 0; code < 1 << (ebits + mbits); code++) {
    const e = code >>> mbits;
    const m = code & ((1 << mbits) - 1);
    if (ieee ? e === (1 << ebits) - 1 : e === (1 << ebits) - 1 && m === (1 << mbits) - 1) continue;
    v.push(e === 0 ? (m / (1 << mbits)) * 2 ** (1 - bias) : (1 + m / (1 << mbits)) * 2 ** (e - bias));
    c.push(code);
  }
  return { v, c };
}
const E4M3 = grid(4, 3, 7, false);
const E5M2 = grid(5, 2, 15, true);

function oracle(g: { v: number[]; c: number[] }, x: number, signBit: number): number {
  const a = Math.min(Math.abs(x), g.v[g.v.length - 1]!);
  let lo = 0;
  let hi = g.v.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (g.v[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - g.v[lo]!;
  const dHi = g.v[hi]! - a;
  const code = dLo < dHi ? g.c[lo]! : dHi < dLo ? g.c[hi]! : g.c[lo]! % 2 === 0 ? g.c[lo]! : g.c[hi]!;
  return code | (x < 0 || Object.is(x, -0) ? signBit : 0);
}

test('fp8: spec §3.1 scalar table (E4M3 and E5M2, saturating and not)', () => {
  const e4: [number, number, number][] = [
    [0.1, 0x1d, 0x1d], [1 / 3, 0x2b, 0x2b], [1.0, 0x38, 0x38], [3.14159, 0x45, 0x45], [240, 0x77, 0x77],
    [448, 0x7e, 0x7e], [449, 0x7e, 0x7e], [460, 0x7e, 0x7e], [464, 0x7e, 0x7e], [465, 0x7e, 0x7f], [470, 0x7e, 0x7f],
    [479, 0x7e, 0x7f], [480, 0x7e, 0x7f], [1000, 0x7e, 0x7f], [2 ** -9, 0x01, 0x01], [2 ** -10, 0x00, 0x00],
    [0.0015, 0x01, 0x01], [-0, 0x80, 0x80],
  ]; // fmt: input, satfinite, non-saturating (PyTorch)
  for (const [x, sat, nonSat] of e4) {
    assert.equal(f32ToE4m3(x), sat, `E4M3 satfinite ${x}`);
    assert.equal(f32ToE4m3(x, false), nonSat, `E4M3 non-saturating ${x}`);
  }
  assert.equal(e4m3ToF32(0x1d), 0.1015625);
  assert.equal(e4m3ToF32(0x2b), 0.34375);
  assert.equal(e4m3ToF32(0x45), 3.25);
  const e5: [number, number, number][] = [
    [0.1, 0x2e, 0x2e], [1 / 3, 0x35, 0x35], [1.0, 0x3c, 0x3c], [3.14159, 0x42, 0x42], [57344, 0x7b, 0x7b],
    [60000, 0x7b, 0x7b], [61440, 0x7b, 0x7c], [1e5, 0x7b, 0x7c], [2 ** -16, 0x01, 0x01], [-1.5, 0xbe, 0xbe],
  ];
  for (const [x, sat, nonSat] of e5) {
    assert.equal(f32ToE5m2(x), sat, `E5M2 satfinite ${x}`);
    assert.equal(f32ToE5m2(x, false), nonSat, `E5M2 non-saturating ${x}`);
  }
  assert.equal(e5m2ToF32(0x2e), 0.09375);
  assert.equal(e5m2ToF32(0x35), 0.3125);
  assert.equal(e5m2ToF32(0x42), 3.0);
});

test('fp8: decode tables — specials, extremes, and every code re-encodes to itself', () => {
  assert.equal(e4m3ToF32(0x7e), 448);
  assert.equal(e4m3ToF32(0xfe), -448);
  assert.ok(Number.isNaN(e4m3ToF32(0x7f)) && Number.isNaN(e4m3ToF32(0xff)));
  assert.equal(e4m3ToF32(0x78), 256); // exponent field 15 is an ordinary binade in E4M3
  assert.equal(e4m3ToF32(0x08), 2 ** -6);
  assert.equal(e4m3ToF32(0x01), 2 ** -9);
  assert.ok(Object.is(e4m3ToF32(0x80), -0));
  assert.equal(e5m2ToF32(0x7b), 57344);
  assert.equal(e5m2ToF32(0x7c), Infinity);
  assert.equal(e5m2ToF32(0xfc), -Infinity);
  for (const c of [0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff]) assert.ok(Number.isNaN(e5m2ToF32(c)));
  assert.equal(e5m2ToF32(0x01), 2 ** -16);
  assert.equal(e5m2ToF32(0x04), 2 ** -14);
  for (let c = 0; c < 256; c++) {
    if ((c & 0x7f) !== 0x7f) {
      assert.equal(f32ToE4m3(e4m3ToF32(c)), c, `E4M3 code ${c}`);
      assert.equal(f32ToE4m3(e4m3ToF32(c), false), c);
    }
    if ((c & 0x7c) !== 0x7c) assert.equal(f32ToE5m2(e5m2ToF32(c)), c, `E5M2 code ${c}`);
  }
  assert.equal(f32ToE5m2(Infinity, false), 0x7c);
  assert.equal(f32ToE5m2(-Infinity, false), 0xfc);
  assert.equal((f32ToE5m2(NaN) & 0x7f) > 0x7c, true);
});

test('fp8: every midpoint between neighbouring codes and random values match the brute-force RNE oracle', () => {
  for (const [g, enc, signBit] of [[E4M3, f32ToE4m3, 0x80], [E5M2, f32ToE5m2, 0x80]] as const) {
    const xs: number[] = [];
    for (let i = 0; i + 1 < g.v.length; i++) {
      const mid = (g.v[i]! + g.v[i + 1]!) / 2; // exact in FP32
      xs.push(mid, Math.fround(mid * (1 + 2 ** -23)), Math.fround(mid * (1 - 2 ** -23)), -mid);
    }
    const r = mulberry32(31);
    for (let i = 0; i < 20000; i++) xs.push(Math.fround((r() * 2 - 1) * 2 ** (r() * 40 - 22)));
    for (const x of xs) assert.equal(enc(x), oracle(g, x, signBit), `input ${x}`);
  }
});

test('fp8: E4M3 is never NaN from finite input (sweep of FP32 bit patterns), and non-saturating agrees below 464', () => {
  const specials = [0, -0, 2 ** -149, -(2 ** -149), 2 ** -126, 1e-45, 1e-30, 3.4028234663852886e38, -3.4028234663852886e38, 1e30, 464, 464.00003];
  let checked = 0;
  const check = (x: number): void => {
    const sat = f32ToE4m3(x);
    assert.notEqual(sat & 0x7f, 0x7f, `finite ${x} → NaN`);
    assert.equal(sat, oracle(E4M3, x, 0x80), `input ${x}`);
    const nonSat = f32ToE4m3(x, false);
    assert.equal(nonSat, Math.abs(x) <= 464 ? sat : 0x7f | (sat & 0x80), `non-saturating ${x}`);
    const e5 = f32ToE5m2(x);
    assert.ok((e5 & 0x7f) <= 0x7b, `E5M2 satfinite ${x}`);
    assert.equal(f32ToE5m2(x, false), Math.abs(x) < 61440 ? e5 : 0x7c | (e5 & 0x80));
    checked++;
  };
  for (const x of specials) check(x), check(-x);
  for (let bits = 0; bits < 2 ** 32; bits += 4093) {
    u32[0] = bits;
    const x = f32[0]!;
    if (Number.isFinite(x)) check(x);
  }
  assert.equal(f32ToE4m3(Infinity), 0x7e); // satfinite maps ±Inf to ±max
  assert.equal(f32ToE4m3(-Infinity), 0xfe);
  assert.equal(f32ToE4m3(Infinity, false), 0x7f);
  assert.equal(f32ToE4m3(NaN) & 0x7f, 0x7f);
  console.log(`fp8: ${checked} finite FP32 values checked, none encoded to NaN with satfinite`);
});

test('fp8: round trip error within half an ulp (relative 2^-4 E4M3, 2^-3 E5M2; absolute half the min subnormal below)', () => {
  const r = mulberry32(8);
  const worst = { e4rel: 0, e4sub: 0, e5rel: 0, e5sub: 0 };
  for (let i = 0; i < 50000; i++) {
    const x = Math.fround((r() < 0.5 ? -1 : 1) * 2 ** (r() * 28 - 18));
    if (Math.abs(x) <= 448) {
      const err = Math.abs(e4m3ToF32(f32ToE4m3(x)) - x);
      if (Math.abs(x) >= 2 ** -6) worst.e4rel = Math.max(worst.e4rel, err / Math.abs(x));
      else worst.e4sub = Math.max(worst.e4sub, err);
    }
    const err5 = Math.abs(e5m2ToF32(f32ToE5m2(x)) - x);
    if (Math.abs(x) >= 2 ** -14) worst.e5rel = Math.max(worst.e5rel, err5 / Math.abs(x));
    else worst.e5sub = Math.max(worst.e5sub, err5);
  }
  assert.ok(worst.e4rel <= 2 ** -4 && worst.e4sub <= 2 ** -10);
  assert.ok(worst.e5rel <= 2 ** -3 && worst.e5sub <= 2 ** -17);
  console.log(
    `fp8 round trip: E4M3 worst relative ${worst.e4rel.toFixed(5)} (bound 0.0625), subnormal abs ${worst.e4sub.toExponential(3)} ` +
      `(bound 2^-10); E5M2 worst relative ${worst.e5rel.toFixed(5)} (bound 0.125), subnormal abs ${worst.e5sub.toExponential(3)} (bound 2^-17)`,
  );
});

test('fp8: spec §3.6 per-tensor current scaling vector', () => {
  const x = new Float32Array([0.02, -1.7, 3.9, 250, -0.0004]);
  const { data, scale } = quantizeFp8PerTensor(x);
  assert.deepEqual([...data], [0x11, 0xc4, 0x4e, 0x7e, 0x80]);
  assert.equal(scale, Math.fround(250 / 448));
  assert.equal(scale.toFixed(9), '0.558035731'); // spec prints 0.558035714 = 250/448 before FP32 rounding
  const y = new Float32Array(5);
  decodeFp8('e4m3', data, 5, y, 0, scale);
  assert.deepEqual([...y].map((v) => v.toPrecision(6)), ['0.0196184', '-1.67411', '3.90625', '250.000', '0.00000']);
  assert.ok(Object.is(y[4], -0)); // −0.0004 · 1.792 underflows below 2^-10 and flushes to −0
  assert.deepEqual(quantizeFp8PerTensor(new Float32Array(4)).scale, 1); // amax 0 → scale 1
  const e5 = quantizeFp8PerTensor(new Float32Array([57344 * 2, -1]), 'e5m2');
  assert.equal(e5.scale, 2);
  assert.deepEqual([...e5.data], [0x7b, f32ToE5m2(-0.5)]);
  assert.throws(() => quantizeFp8PerTensor(new Float32Array([1, Infinity])), isBadArgument);
});

test('fp8: encodeFp8 saturates; decodeFp8Row applies the per-tensor or per-row scale', () => {
  assert.deepEqual([...encodeFp8('e4m3', new Float32Array([1000, -1000, 1, 0.5]), 2)], [0x7e, 0xfe, 0x40, 0x38]);
  assert.deepEqual([...encodeFp8('e5m2', new Float32Array([1e6, 1]))], [0x7b, 0x3c]);
  const data = new Uint8Array([0x38, 0x40, 0xb8, 0x7e, 0x30, 0x00]); // 1, 2, −1, 448, 0.5, 0
  const out = new Float32Array(8);
  decodeFp8Row({ dtype: 'f8_e4m3', rows: 2, cols: 3, data, scale: new Float32Array([0.5]) }, 1, out, 2);
  assert.deepEqual([...out], [0, 0, 224, 0.25, 0, 0, 0, 0]);
  decodeFp8Row({ dtype: 'f8_e4m3', rows: 2, cols: 3, data, scale: new Float32Array([0.5, 4]) }, 1, out);
  assert.deepEqual([...out.subarray(0, 3)], [1792, 2, 0]);
  decodeFp8Row({ dtype: 'f8_e5m2', rows: 2, cols: 3, data: new Uint8Array([0x3c, 0x7c, 0, 0, 0, 0]), scale: new Float32Array([3]) }, 0, out);
  assert.deepEqual([...out.subarray(0, 3)], [3, Infinity, 0]);
  const m = { dtype: 'f8_e4m3' as const, rows: 2, cols: 3, data, scale: new Float32Array(3) };
  assert.throws(() => decodeFp8Row(m, 0, out), isBadArgument); // scale of neither length 1 nor rows
  assert.throws(() => decodeFp8Row({ ...m, scale: new Float32Array(1) }, 2, out), isBadArgument);
  assert.throws(() => decodeFp8Row({ ...m, scale: new Float32Array(1), data: data.subarray(0, 5) }, 0, out), isBadArgument);
  assert.throws(() => decodeFp8('e4m3', data, 7, out), isBadArgument);
});

test('fp8: fp8FakeQuant equals quantize → dequantize, dynamic and static', () => {
  const r = mulberry32(5);
  const x = new Float32Array(64).map(() => (r() * 2 - 1) * 30);
  const dyn = x.slice();
  fp8FakeQuant(dyn, 48, 0);
  const { data, scale } = quantizeFp8PerTensor(x.subarray(0, 48));
  const expect = new Float32Array(48);
  decodeFp8('e4m3', data, 48, expect, 0, scale);
  assert.deepEqual([...dyn.subarray(0, 48)], [...expect]);
  assert.deepEqual([...dyn.subarray(48)], [...x.subarray(48)]); // beyond n: untouched
  const st = new Float32Array([1000, 1, -2, 0.3, -1e-9]);
  fp8FakeQuant(st, 5, 0.5); // static scale: 1000/0.5 saturates to 448 → 224
  assert.deepEqual([...st], [224, 1, -2, 0.3125, -0]);
  const zeros = new Float32Array(16);
  fp8FakeQuant(zeros, 16, 0);
  assert.ok(zeros.every((v) => v === 0));
  assert.throws(() => fp8FakeQuant(st, 6, 1), isBadArgument);
  assert.throws(() => fp8FakeQuant(st, 5, -1), isBadArgument);
});
