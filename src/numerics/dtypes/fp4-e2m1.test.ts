import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../random.js';
import { e2m1ToF32, E2M1_VALUES, f32ToE2m1 } from './fp4-e2m1.js';

/** Appendix A oracle: nearest of the 8 magnitudes after clamping to 6, ties to the even code, sign bit copied. */
function oracle(x: number): number {
  const mags = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
  const a = Math.min(Math.abs(x), 6);
  let best = 0;
  for (let c = 1; c < 8; c++) {
    const d = Math.abs(mags[c]! - a);
    const dBest = Math.abs(mags[best]! - a);
    if (d < dBest || (d === dBest && c % 2 === 0 && best % 2 === 1)) best = c;
  }
  return best | (x < 0 || Object.is(x, -0) ? 8 : 0);
}

test('e2m1: the 16 codes of spec §1.2', () => {
  const expected = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];
  for (let c = 0; c < 16; c++) {
    assert.ok(Object.is(e2m1ToF32(c), expected[c]), `code ${c}`);
    assert.ok(Object.is(E2M1_VALUES[c], expected[c]));
    assert.equal(f32ToE2m1(expected[c]!), c);
  }
  assert.equal(e2m1ToF32(0xf7), 6); // only the low nibble is read
});

test('e2m1: spec §3.1 ties and saturation', () => {
  const cases: [number, number][] = [
    [0.25, 0x0], [0.75, 0x2], [1.25, 0x2], [1.75, 0x4], [2.5, 0x4], [3.5, 0x6], [5.0, 0x6], [5.5, 0x7], [7, 0x7],
    [-0.25, 0x8], [-2.5, 0xc],
  ];
  for (const [x, code] of cases) assert.equal(f32ToE2m1(x), code, `input ${x}`);
  assert.equal(f32ToE2m1(1e30), 0x7);
  assert.equal(f32ToE2m1(-Infinity), 0xf);
  assert.equal(f32ToE2m1(-0), 0x8);
  assert.equal(f32ToE2m1(-1e-30), 0x8); // negatives that round to zero keep the sign: −0
  assert.equal(f32ToE2m1(0.2500001), 0x1); // just above the 0.25 tie
  assert.equal(f32ToE2m1(NaN), 0x7); // documented: NaN fails every threshold
});

test('e2m1: matches the brute-force RNE oracle on every tie, its neighbours and random values', () => {
  const xs: number[] = [];
  for (const t of [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5]) {
    for (const v of [t, Math.fround(t * (1 + 2 ** -23)), Math.fround(t * (1 - 2 ** -23))]) xs.push(v, -v);
  }
  const r = mulberry32(99);
  for (let i = 0; i < 20000; i++) xs.push(Math.fround((r() * 2 - 1) * 8));
  for (const x of xs) assert.equal(f32ToE2m1(x), oracle(x), `input ${x}`);
});

test('e2m1: round trip error bound by interval (half the gap: 0.25 up to 2, 0.5 up to 4, 1 up to 6; clip beyond)', () => {
  const r = mulberry32(3);
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround((r() * 2 - 1) * 7);
    const a = Math.abs(x);
    const bound = a <= 2 ? 0.25 : a <= 4 ? 0.5 : a <= 6 ? 1 : 1 + (a - 6);
    const err = Math.abs(e2m1ToF32(f32ToE2m1(x)) - x);
    assert.ok(err <= bound, `input ${x}: error ${err} > ${bound}`);
    if (a <= 6) worst = Math.max(worst, err);
  }
  console.log(`e2m1 round trip: worst |err| within ±6 = ${worst.toFixed(4)} (bound 1, at the 4..6 gap)`);
});
