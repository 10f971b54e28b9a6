import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bf16ToF32, decodeBf16, encodeBf16, f32ToBf16 } from './bf16.js';

const hex = (h: number): string => `0x${h.toString(16).padStart(4, '0')}`;

function expectEncode(cases: readonly (readonly [number, number])[]): void {
  for (const [x, bits] of cases) assert.equal(hex(f32ToBf16(x)), hex(bits), `f32ToBf16(${x})`);
}

test('bf16: values from the precision spec (hand-computed)', () => {
  expectEncode([
    [1, 0x3f80],
    [3.14159265, 0x4049], // 3.140625
    [1 / 3, 0x3eab], // 0.333984375
    [65504, 0x4780], // 65536: only 8 significant bits
    [-2.5, 0xc020],
    [1e-40, 0x0001], // f32 subnormal rounds to the smallest bf16 subnormal 2^-133, no flush to zero
    [3.3895e38, 0x7f7f], // largest finite
    [-0, 0x8000],
  ]);
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0x4049), 3.140625);
  assert.equal(bf16ToF32(0x3eab), 0.333984375);
  assert.equal(bf16ToF32(0xc020), -2.5);
  assert.equal(bf16ToF32(0x0001), 2 ** -133);
  assert.ok(Object.is(bf16ToF32(0x8000), -0));
});

test('bf16: ties to even, overflow, infinities and NaN', () => {
  expectEncode([
    [1 + 2 ** -8, 0x3f80], // halfway 1 .. 1+2^-7: even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway 0x3f81 .. 0x3f82: even 0x3f82
    [Math.fround(1 + 2 ** -8 + 2 ** -23), 0x3f81], // just above the tie
    [257, 0x4380], // halfway 256 .. 258: 256
    [259, 0x4382], // halfway 258 .. 260: 260
    [3.4028234663852886e38, 0x7f80], // f32 max rounds up past 0x7f7f: Inf
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
  ]);
  for (const x of [NaN, -NaN]) {
    const h = f32ToBf16(x);
    assert.equal(h & 0x7f80, 0x7f80);
    assert.notEqual(h & 0x7f, 0, 'NaN must not turn into Inf');
    assert.equal(h & 0x40, 0x40, 'quiet bit set');
    assert.ok(Number.isNaN(bf16ToF32(h)));
  }
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.equal(bf16ToF32(0xff80), -Infinity);
});

test('bf16: every bit pattern survives decode then encode', () => {
  for (let h = 0; h < 65536; h++) {
    const x = bf16ToF32(h);
    if (Number.isNaN(x)) continue;
    assert.equal(f32ToBf16(x), h, hex(h));
  }
});

test('bf16: bulk codecs are little-endian and agree with the scalar ones', () => {
  const src = new Float32Array([1, -2.5, 1 / 3, 1e-40, -Infinity]);
  const bytes = encodeBf16(src);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x80, 0x3f, 0x20, 0xc0]);
  const out = new Float32Array(7);
  decodeBf16(bytes, src.length, out, 1);
  assert.deepEqual([...out], [0, 1, -2.5, 0.333984375, Math.fround(2 ** -133), -Infinity, 0]);
});

/**
 * Agreement with ggml: `ggml_fp32_to_bf16` (libggml-base.so from node-llama-cpp's llama.cpp build) run on
 * the f32 bit patterns 0, 65537, 2·65537, … (65536 patterns spread over every exponent), NaN inputs
 * skipped, outputs written as u16 LE; this is the SHA-256 of those bytes. The same comparison was also run
 * once over all 2^32 f32 bit patterns with no mismatch.
 */
test('bf16: matches ggml_fp32_to_bf16 on 65536 spread bit patterns', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out: number[] = [];
  for (let i = 0; i < 65536; i++) {
    u[0] = Math.imul(i, 65537) >>> 0;
    if (!Number.isNaN(f[0]!)) out.push(f32ToBf16(f[0]!));
  }
  const digest = createHash('sha256').update(new Uint8Array(new Uint16Array(out).buffer)).digest('hex');
  assert.equal(digest, GGML_BF16_SHA256);
});

const GGML_BF16_SHA256 = '77144e216c7e8308b9c89a36fd7b5683300820d69ef394888916307f4da7fa1b';
