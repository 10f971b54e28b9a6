/**
 * Causal grouped-query attention (spec nemotron-h.md §3.4) for one KV head and its query heads, SIMD over the head
 * dimension. Keys and values are f32 rows with a row stride `ld` (floats): the cache itself for f32 caches, or rows
 * decoded by decodeFp8Rows for FP8 ones.
 *   s_m = (q · K_m) / sqrt(dh) for m < pos0 + t + 1;  p = softmax(s) (max-subtracted, Σ in f64);  out = Σ_m p_m V_m
 */
import { hsum4 } from './common';
import { vexp } from './vmath';

/** dst[m, 0..dh) = table[code[m·ld + d]] · scale[m·ss] for rows m < len (FP8 E4M3 through a 256-entry f32 table). */
export function decodeFp8Rows(dst: usize, codes: usize, ld: i32, scales: usize, ss: i32, len: i32, dh: i32, table: usize): void {
  for (let m = 0; m < len; m++) {
    const s = load<f32>(scales + (<usize>(m * ss) << 2));
    const src = codes + <usize>(m * ld), out = dst + (<usize>(m * dh) << 2);
    for (let d = 0; d < dh; d++) store<f32>(out + (<usize>d << 2), load<f32>(table + (<usize>load<u8>(src + <usize>d) << 2)) * s);
  }
}

/** Dot of dh floats at a and b. */
@inline function dot(a: usize, b: usize, dh: i32): f32 {
  let acc = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= dh; d += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>d << 2)), v128.load(b + (<usize>d << 2))));
  let r = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; d < dh; d++) r += load<f32>(a + (<usize>d << 2)) * load<f32>(b + (<usize>d << 2));
  return r;
}

/** scores[m] = scale · q·K_m for m < n, four keys at a time when dh is a multiple of 4. */
function scores(q: usize, k: usize, ld: i32, n: i32, dh: i32, scale: f32, out: usize): void {
  const lk = <usize>ld << 2;
  let m = 0;
  if ((dh & 3) == 0) {
    for (; m + 4 <= n; m += 4) {
      const k0 = k + <usize>m * lk, k1 = k0 + lk, k2 = k1 + lk, k3 = k2 + lk;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let o: usize = 0, e = <usize>dh << 2; o < e; o += 16) {
        const qv = v128.load(q + o);
        a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + o)));
        a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + o)));
        a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + o)));
        a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + o)));
      }
      v128.store(out + (<usize>m << 2), f32x4.mul(hsum4(a0, a1, a2, a3), f32x4.splat(scale)));
    }
  }
  for (; m < n; m++) store<f32>(out + (<usize>m << 2), dot(q, k + <usize>m * lk, dh) * scale);
}

/** p = exp(s − max s) in place over n scores; returns Σp (f64). */
function softmaxWeights(s: usize, n: i32): f64 {
  let mx = load<f32>(s);
  for (let m = 1; m < n; m++) mx = max(mx, load<f32>(s + (<usize>m << 2)));
  const mv = f32x4.splat(mx);
  let m = 0;
  for (; m + 4 <= n; m += 4) v128.store(s + (<usize>m << 2), vexp(f32x4.sub(v128.load(s + (<usize>m << 2)), mv)));
  for (; m < n; m++) store<f32>(s + (<usize>m << 2), f32x4.extract_lane(vexp(f32x4.splat(load<f32>(s + (<usize>m << 2)) - mx)), 0));
  let sum: f64 = 0;
  for (m = 0; m < n; m++) sum += <f64>load<f32>(s + (<usize>m << 2));
  return sum;
}

/** out[0..dh) = (Σ_m p_m · V_m) · inv over m < n; 16 columns per pass, then 4, then scalar. */
function weightedSum(p: usize, v: usize, ld: i32, n: i32, dh: i32, inv: f32, out: usize): void {
  const lv = <usize>ld << 2, iv = f32x4.splat(inv);
  let d = 0;
  for (; d + 16 <= dh; d += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let vm = v + (<usize>d << 2);
    for (let m = 0; m < n; m++, vm += lv) {
      const pm = v128.load32_splat(p + (<usize>m << 2));
      a0 = f32x4.add(a0, f32x4.mul(pm, v128.load(vm)));
      a1 = f32x4.add(a1, f32x4.mul(pm, v128.load(vm, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pm, v128.load(vm, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pm, v128.load(vm, 48)));
    }
    const o = out + (<usize>d << 2);
    v128.store(o, f32x4.mul(a0, iv)), v128.store(o, f32x4.mul(a1, iv), 16);
    v128.store(o, f32x4.mul(a2, iv), 32), v128.store(o, f32x4.mul(a3, iv), 48);
  }
  for (; d + 4 <= dh; d += 4) {
    let a = f32x4.splat(0);
    let vm = v + (<usize>d << 2);
    for (let m = 0; m < n; m++, vm += lv) a = f32x4.add(a, f32x4.mul(v128.load32_splat(p + (<usize>m << 2)), v128.load(vm)));
    v128.store(out + (<usize>d << 2), f32x4.mul(a, iv));
  }
  for (; d < dh; d++) {
    let a: f32 = 0;
    for (let m = 0; m < n; m++) a += load<f32>(p + (<usize>m << 2)) * load<f32>(v + <usize>m * lv + (<usize>d << 2));
    store<f32>(out + (<usize>d << 2), a * inv);
  }
}

/**
 * Query heads j0..j1 (all reading this KV head) for T queries at positions pos0..pos0+T−1. q, out: [T, ldq] f32 with
 * head j at column j·dh; k, v: rows of dh floats with stride ld; work: pos0 + T floats of scores.
 */
export function attendKvHead(T: i32, pos0: i32, j0: i32, j1: i32, dh: i32, q: usize, ldq: i32, k: usize, v: usize, ld: i32, out: usize, work: usize): void {
  const scale = <f32>(1 / Math.sqrt(<f64>dh));
  for (let j = j0; j < j1; j++) {
    for (let t = 0; t < T; t++) {
      const n = pos0 + t + 1;
      const qo = <usize>(t * ldq + j * dh) << 2;
      scores(q + qo, k, ld, n, dh, scale, work);
      const sum = softmaxWeights(work, n);
      weightedSum(work, v, ld, n, dh, <f32>(1 / sum), out + qo);
    }
  }
}
