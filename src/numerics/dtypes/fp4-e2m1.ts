/**
 * FP4 E2M1 (OCP MX / NVFP4 element), one 4-bit code per element; packing two codes per byte is the caller's
 * business (see `packNibbles` in ./nvfp4.ts).
 *
 * Nibble layout `s e1 e0 m` (bit 3 = sign), bias 1, no Inf, no NaN:
 *   code  0..7  → +0, 0.5 (subnormal), 1, 1.5, 2, 3, 4, 6
 *   code  8..15 → the same magnitudes negated (0x8 is −0)
 * The magnitude code is monotone in value, so "even code" ⇔ "mantissa bit 0".
 *
 * Encoding is saturating round-to-nearest-even on |x| (spec §1.2), the thresholds TE's reference quantizer and
 * ModelOpt's NVFP4 caster use:
 *   [0, 0.25] → 0   (0.25, 0.75) → 0.5   [0.75, 1.25] → 1   (1.25, 1.75) → 1.5
 *   [1.75, 2.5] → 2   (2.5, 3.5) → 3   [3.5, 5] → 4   (5, ∞) → 6
 * The sign bit is copied from the input, so negatives that round to 0 (and −0) give 0x8. NaN, which E2M1 cannot
 * represent, fails every threshold and lands on +6 (0x7); quantizers in this folder never pass NaN on purpose.
 */

/** E2M1 magnitudes by code, then their negations (code 8 = −0). */
export const E2M1_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

export const E2M1_MAX = 6;

const TABLE = Float32Array.from(E2M1_VALUES);

/** The value of an E2M1 code (only the low 4 bits are read). */
export function e2m1ToF32(code: number): number {
  return TABLE[code & 0xf]!;
}

/** FP32 → E2M1 code, saturating round-to-nearest-even (the argument is rounded to FP32 first). */
export function f32ToE2m1(x: number): number {
  const v = Math.fround(x);
  const sign = v < 0 || Object.is(v, -0) ? 8 : 0;
  const a = Math.abs(v);
  let mag: number;
  if (a <= 0.25) mag = 0;
  else if (a < 0.75) mag = 1;
  else if (a <= 1.25) mag = 2;
  else if (a < 1.75) mag = 3;
  else if (a <= 2.5) mag = 4;
  else if (a < 3.5) mag = 5;
  else if (a <= 5) mag = 6;
  else mag = 7;
  return sign | mag;
}
