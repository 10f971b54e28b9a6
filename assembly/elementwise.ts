/**
 * Element-wise ops of the forward pass, SIMD with scalar tails (the scalar tails go through the same vector math, so a
 * lane rounds the same wherever it sits):
 *   rmsNorm    out = x · rsqrt(mean(x²) + eps) · w per group of gs in each row (Σx² in f64, as ref)
 *   siluGate   y ← y · SiLU(z)
 *   relu2      x ← (x > 0 ? x : 0)²
 *   addScaled  acc ← acc + s · x
 */
import { vsilu, ssilu } from './vmath';

/** Σ x² over n floats, the squares and the sum in f64 (x² of an f32 is exact in f64). */
function sumSquares(x: usize, n: i32): f64 {
  let a = f64x2.splat(0), b = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
    a = f64x2.add(a, f64x2.mul(lo, lo));
    b = f64x2.add(b, f64x2.mul(hi, hi));
  }
  const s = f64x2.add(a, b);
  let r = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    r += v * v;
  }
  return r;
}

export function rmsNorm(out: usize, x: usize, T: i32, dim: i32, w: usize, eps: f64, gs: i32): void {
  for (let t = 0; t < T; t++) {
    for (let g0 = 0; g0 < dim; g0 += gs) {
      const o = <usize>(t * dim + g0) << 2;
      const wg = w + (<usize>g0 << 2);
      const inv = <f32>(1 / Math.sqrt(sumSquares(x + o, gs) / <f64>gs + eps));
      const iv = f32x4.splat(inv);
      let i = 0;
      for (; i + 4 <= gs; i += 4) {
        const k = <usize>i << 2;
        v128.store(out + o + k, f32x4.mul(f32x4.mul(v128.load(x + o + k), iv), v128.load(wg + k)));
      }
      for (; i < gs; i++) {
        const k = <usize>i << 2;
        store<f32>(out + o + k, load<f32>(x + o + k) * inv * load<f32>(wg + k));
      }
    }
  }
}

export function siluGate(y: usize, z: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i << 2;
    v128.store(y + k, f32x4.mul(v128.load(y + k), vsilu(v128.load(z + k))));
  }
  for (; i < n; i++) {
    const k = <usize>i << 2;
    store<f32>(y + k, load<f32>(y + k) * ssilu(load<f32>(z + k)));
  }
}

export function relu2(x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i << 2;
    const v = f32x4.pmax(zero, v128.load(x + k)); // x > 0 ? x : 0, so NaN → 0 as in ref
    v128.store(x + k, f32x4.mul(v, v));
  }
  for (; i < n; i++) {
    const k = <usize>i << 2;
    const u = load<f32>(x + k);
    const v: f32 = u > 0 ? u : 0;
    store<f32>(x + k, v * v);
  }
}

export function addScaled(acc: usize, x: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i << 2;
    v128.store(acc + k, f32x4.add(v128.load(acc + k), f32x4.mul(sv, v128.load(x + k))));
  }
  for (; i < n; i++) {
    const k = <usize>i << 2;
    store<f32>(acc + k, load<f32>(acc + k) + s * load<f32>(x + k));
  }
}
