import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decodeF16, encodeF16, f16ToF32, f32ToF16 } from './f16.js';

const hex = (h: number): string => `0x${h.toString(16).padStart(4, '0')}`;

function expectEncode(cases: readonly (readonly [number, number])[]): void {
  for (const [x, bits] of cases) assert.equal(hex(f32ToF16(x)), hex(bits), `f32ToF16(${x})`);
}

test('f16: exact values encode and decode (hand-computed)', () => {
  expectEncode([
    [1, 0x3c00],
    [-2.5, 0xc100], // 1.25 · 2^1: exponent 16, mantissa 0x100
    [65504, 0x7bff], // largest finite
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [0, 0x0000],
    [-0, 0x8000],
  ]);
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc100), -2.5);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 5.960464477539063e-8);
  assert.equal(f16ToF32(0x03ff), 6.097555160522461e-5);
  assert.ok(Object.is(f16ToF32(0x8000), -0));
});

test('f16: round to nearest, ties to even (hand-computed)', () => {
  expectEncode([
    [1 / 3, 0x3555], // 0.333251953125 (next up 0x3556 = 0.33349609375 is farther)
    [1 + 2 ** -11, 0x3c00], // halfway 1 .. 1+2^-10: even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // halfway 0x3c01 .. 0x3c02: even 0x3c02
    [2049, 0x6800], // halfway 2048 .. 2050: 2048
    [2051, 0x6802], // halfway 2050 .. 2052: 2052
    [2 ** -25, 0x0000], // halfway 0 .. 2^-24: 0 (even)
    [Math.fround(2 ** -25 * (1 + 2 ** -23)), 0x0001], // just above that tie
    [3 * 2 ** -25, 0x0002], // halfway 1 .. 2 subnormal units: 2
    [5 * 2 ** -25, 0x0002], // halfway 2 .. 3: 2
    [2 ** -14 - 2 ** -25, 0x0400], // halfway largest subnormal .. smallest normal: carries into the exponent
  ]);
  assert.equal(f16ToF32(0x3555), 0.333251953125);
});

test('f16: overflow, infinities and NaN', () => {
  expectEncode([
    [65519, 0x7bff], // below the halfway point 65520
    [65520, 0x7c00], // tie between 65504 (odd mantissa) and 65536 (= Inf): goes to Inf
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ]);
  const nan = f32ToF16(NaN);
  assert.equal(nan & 0x7c00, 0x7c00, 'NaN keeps an all-ones exponent');
  assert.notEqual(nan & 0x03ff, 0, 'NaN keeps a non-zero mantissa (never becomes Inf)');
  assert.ok(Number.isNaN(f16ToF32(nan)));
  assert.ok(Number.isNaN(f16ToF32(0x7c01)));
  assert.ok(Number.isNaN(f16ToF32(0xfe00)));
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
});

test('f16: every bit pattern survives decode then encode', () => {
  for (let h = 0; h < 65536; h++) {
    const x = f16ToF32(h);
    if (Number.isNaN(x)) continue;
    assert.equal(f32ToF16(x), h, hex(h));
  }
});

test('f16: bulk codecs are little-endian and agree with the scalar ones', () => {
  const src = new Float32Array([1, -2.5, 65504, 2 ** -24, 1 / 3, Infinity]);
  const bytes = encodeF16(src);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x3c, 0x00, 0xc1]);
  const out = new Float32Array(8);
  decodeF16(bytes, src.length, out, 2);
  assert.deepEqual([...out], [0, 0, 1, -2.5, 65504, 2 ** -24, 0.333251953125, Infinity]);
});

/**
 * Agreement with ggml: `ggml_fp32_to_fp16` (libggml-base.so from node-llama-cpp's llama.cpp build) run on
 * the f32 bit patterns 0, 65537, 2·65537, … (65536 patterns spread over every exponent), NaN inputs
 * skipped, outputs written as u16 LE; this is the SHA-256 of those bytes. The same comparison was also run
 * once over all 2^32 f32 bit patterns with no mismatch.
 */
test('f16: matches ggml_fp32_to_fp16 on 65536 spread bit patterns', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out: number[] = [];
  for (let i = 0; i < 65536; i++) {
    u[0] = Math.imul(i, 65537) >>> 0;
    if (!Number.isNaN(f[0]!)) out.push(f32ToF16(f[0]!));
  }
  const digest = createHash('sha256').update(new Uint8Array(new Uint16Array(out).buffer)).digest('hex');
  assert.equal(digest, GGML_F16_SHA256);
});

const GGML_F16_SHA256 = '673d235886a23e91855239c999839a8b24e5b04dd393406b24ace2fba47d37c0';
