/**
 * Vector math for the non-matmul ops: exp on f32x4 (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-5 polynomial,
 * result scaled by 2^n through the exponent bits; ≤ 2 ulp over the normal range, 0 below −87.3, +Inf above 88.72,
 * NaN stays NaN) and SiLU built on it.
 */

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_MAX: f32 = 88.7228391; // above: +Inf
const EXP_MIN: f32 = -87.3365447; // below: 0 (the smallest normal is e^−87.34)

/** e^x for four lanes. */
@inline export function vexp(x: v128): v128 {
  const big = f32x4.gt(x, f32x4.splat(EXP_MAX));
  const tiny = f32x4.lt(x, f32x4.splat(EXP_MIN));
  const xc = f32x4.pmax(f32x4.pmin(x, f32x4.splat(EXP_MAX)), f32x4.splat(EXP_MIN));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const er = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n in two halves so n = −126..128 stays normal: 2^⌊n/2⌋ · 2^(n−⌊n/2⌋).
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const h = i32x4.shr_s(ni, 1);
  const s1 = i32x4.shl(i32x4.add(h, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, h), i32x4.splat(127)), 23);
  let y = f32x4.mul(f32x4.mul(er, s1), s2);
  y = v128.bitselect(f32x4.splat(Infinity), y, big);
  return v128.andnot(y, tiny); // NaN lanes: pmin/pmax pass NaN through, so y is NaN there
}

/** v · sigmoid(v) = v / (1 + e^−v) for four lanes. */
@inline export function vsilu(v: v128): v128 {
  return f32x4.div(v, f32x4.add(f32x4.splat(1), vexp(f32x4.neg(v))));
}

/** Scalar forms through the vector code (one lane), so tails round exactly like the vector body. */
@inline export function sexp(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

@inline export function ssilu(v: f32): f32 {
  return f32x4.extract_lane(vsilu(f32x4.splat(v)), 0);
}
