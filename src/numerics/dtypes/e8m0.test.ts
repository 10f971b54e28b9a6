import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../random.js';
import { e8m0ToF32, log2Parts, mxScaleCeil, mxScaleFloor } from './e8m0.js';

test('e8m0: decode — 2^(b − 127), 0xFF is NaN, 0x00 is 2^-127 (no zero)', () => {
  assert.equal(e8m0ToF32(0x7f), 1);
  assert.equal(e8m0ToF32(0x80), 2);
  assert.equal(e8m0ToF32(0x00), 2 ** -127);
  assert.equal(e8m0ToF32(0xfe), 2 ** 127);
  assert.ok(Number.isNaN(e8m0ToF32(0xff)));
  for (let b = 0; b < 255; b++) assert.equal(e8m0ToF32(b), Math.fround(2 ** (b - 127))); // every value is an FP32
});

test('e8m0: floor and ceil rules on the spec vectors (§3.4 MXFP4 amax 7, §3.5 MXFP8 amax 500, the 3 + δ case)', () => {
  assert.equal(mxScaleFloor(7, 2), 0x7f); // floor(log2 7) − 2 = 0
  assert.equal(mxScaleCeil(7, 6), 0x80); // ceil(log2(7/6)) = 1
  assert.equal(mxScaleFloor(500, 8), 0x7f); // floor(log2 500) − 8 = 0
  assert.equal(mxScaleCeil(500, 448), 0x80); // ceil(log2(500/448)) = 1
  assert.equal(mxScaleFloor(3.1, 2), 0x7e); // X = 2^-1
  assert.equal(mxScaleCeil(3.1, 6), 0x7f); // X = 1
});

test('e8m0: amax 0, tiny, huge, non-finite, and exact powers of two', () => {
  assert.equal(mxScaleFloor(0, 2), 0);
  assert.equal(mxScaleCeil(0, 6), 0);
  assert.equal(mxScaleFloor(2 ** -140, 2), 0); // −142 clamps to −127
  assert.equal(mxScaleCeil(2 ** -149, 448), 0); // amax / 448 underflows FP32: clamps to −127
  assert.equal(mxScaleFloor(3.4e38, 2), 127 - 2 + 127);
  assert.equal(mxScaleCeil(3.4e38, 6), 126 + 127);
  assert.equal(mxScaleFloor(NaN, 2), 0xff);
  assert.equal(mxScaleCeil(Infinity, 6), 0xff);
  for (let k = -100; k <= 100; k++) {
    assert.equal(mxScaleCeil(6 * 2 ** k, 6), k + 127); // amax / 6 is exactly 2^k: no round-up
    assert.equal(mxScaleCeil(Math.fround(6 * 2 ** k * (1 + 2 ** -22)), 6), k + 128); // one ulp above: up
    assert.equal(mxScaleFloor(2 ** k, 2), k - 2 + 127);
    assert.equal(mxScaleFloor(Math.fround(2 ** k * (1 - 2 ** -24)), 2), k - 3 + 127); // one ulp below 2^k
  }
  assert.deepEqual(log2Parts(2 ** -149), { floor: -149, exact: true }); // FP32 subnormals
  assert.deepEqual(log2Parts(3 * 2 ** -140), { floor: -139, exact: false });
});

test('e8m0: on random amax both rules bracket amax: floor puts amax/X in [2^emax, 2^(emax+1)), ceil in (max/2, max]', () => {
  const r = mulberry32(17);
  for (let i = 0; i < 20000; i++) {
    const amax = Math.fround(2 ** (r() * 200 - 100));
    const xf = e8m0ToF32(mxScaleFloor(amax, 2));
    assert.ok(amax / xf >= 4 && amax / xf < 8, `floor: amax ${amax}`);
    const xc = e8m0ToF32(mxScaleCeil(amax, 448));
    const q = Math.fround(amax / 448);
    assert.ok(q / xc <= 1 && q / xc > 0.5, `ceil: amax ${amax}`);
  }
});
