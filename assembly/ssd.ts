/**
 * Mamba-2 scans (spec nemotron-h.md §3.3.4–3.3.6). Layouts as the Backend's ScanArgs: x, y [T, nh·P]; B, C [T, G·N];
 * Δ [T, nh] as f64 (softplus, bias and clamp done by the caller exactly as ref's deltaOf); state [nh, P, N].
 *
 * ssdChunk: one chunk of Lc tokens in the chunked ("state space duality") form of state-spaces/mamba ssd_minimal.py.
 * With a_j = Δ_j·A_h and cs_i = Σ_{j≤i} a_j (f64; only differences cs_i − cs_j go to the f32 exp):
 *   per group g:  CB = C_g·B_gᵀ (lower triangle, Lc × Lc), shared by the group's heads
 *   per head h:   M[i, j] = CB[i, j]·exp(cs_i − cs_j)·Δ_j (j ≤ i)       Lc² exps, not Lc²·P
 *                 y = D·x + (exp(cs)∘C)·Sᵀ + M·X                        inter-chunk (old state) + intra-chunk
 *                 S ← exp(cs_last)·S + (w∘X)ᵀ·B,  w_j = exp(cs_last − cs_j)·Δ_j
 * Every product is a gemm.ts call (SIMD over P or N, scalar tails for other sizes).
 *
 * ssmStep: the exact sequential recurrence (decode), SIMD over N:
 *   S[h, p, :] ← exp(Δ·A_h)·S + Δ·x_p·B;  y_p = S[h, p, :]·C + D_h·x_p.
 */
import { gemmAcc, FULL, K_CAUSAL, C_CAUSAL } from './gemm';
import { vexp } from './vmath';

@inline function pad4(n: i32): i32 {
  return (n + 3) & ~3;
}

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/**
 * Work buffers of the current ssdChunk call (byte offsets). Module globals, not an object: the kernels run with the
 * stub runtime and must not allocate (the JS side owns all memory); globals are per instance, hence per thread.
 */
let wCb: usize = 0, wM: usize = 0, wBt: usize = 0, wCq: usize = 0, wSt: usize = 0, wXwt: usize = 0;
let wCs: usize = 0, wDl: usize = 0, wEcs: usize = 0, wWj: usize = 0;

/** Lays the work buffers out from `base`; returns the end. */
function layout(base: usize, Lc: i32, P: i32, N: i32): usize {
  const Lp = <usize>pad4(Lc), p = <usize>P, n = <usize>N, L = <usize>Lc;
  wCb = align16(base);
  wM = align16(wCb + L * Lp * 4);
  wBt = align16(wM + L * Lp * 4);
  wCq = align16(wBt + n * Lp * 4);
  wSt = align16(wCq + L * n * 4);
  wXwt = align16(wSt + n * p * 4);
  wCs = align16(wXwt + p * Lp * 4);
  wDl = align16(wCs + Lp * 8);
  wEcs = align16(wDl + Lp * 4);
  wWj = align16(wEcs + Lp * 4);
  return wWj + Lp * 4;
}

/** Bytes of work memory ssdChunk needs for a chunk of Lc tokens (from any base). */
export function ssdWorkBytes(Lc: i32, P: i32, N: i32): usize {
  return layout(0, Lc, P, N) + 16;
}

/** One chunk for heads h0..h1 (a thread's share; the B/C groups they span get their CB each). */
export function ssdChunk(Lc: i32, nh: i32, P: i32, N: i32, G: i32, x: usize, bm: usize, cm: usize, delta: usize, A: usize, D: usize, state: usize, y: usize, work: usize, h0: i32, h1: i32): void {
  layout(work, Lc, P, N);
  const Lp = pad4(Lc), ldbc = G * N, hpg = nh / G;
  if (h0 >= h1) return;
  for (let g = h0 / hpg; g <= (h1 - 1) / hpg; g++) {
    const gb = bm + (<usize>(g * N) << 2), gc = cm + (<usize>(g * N) << 2);
    for (let j = 0; j < Lc; j++) {
      for (let n = 0; n < N; n++) store<f32>(wBt + (<usize>(n * Lp + j) << 2), load<f32>(gb + (<usize>(j * ldbc + n) << 2)));
    }
    memory.fill(wCb, 0, <usize>(Lc * Lp) << 2);
    gemmAcc(gc, ldbc, wBt, Lp, wCb, Lp, Lc, Lc, N, C_CAUSAL);
    const e = min(h1, (g + 1) * hpg);
    for (let h = max(h0, g * hpg); h < e; h++) ssdHead(Lc, nh, P, N, G, h, x, gb, gc, delta, A, D, state, y);
  }
}

/** Decay terms of head h: cs (f64), Δ (f32), exp(cs_i), w_j = exp(cs_last − cs_j)·Δ_j; padding lanes zeroed. */
function decays(Lc: i32, nh: i32, h: i32, delta: usize, a: f64): f64 {
  const Lp = pad4(Lc);
  let run: f64 = 0;
  for (let i = 0; i < Lc; i++) {
    const d = load<f64>(delta + (<usize>(i * nh + h) << 3));
    run += d * a;
    store<f64>(wCs + (<usize>i << 3), run);
    store<f32>(wDl + (<usize>i << 2), <f32>d);
  }
  for (let i = Lc; i < Lp; i++) {
    store<f64>(wCs + (<usize>i << 3), run);
    store<f32>(wDl + (<usize>i << 2), 0);
  }
  for (let i = 0; i < Lc; i++) {
    const cs = load<f64>(wCs + (<usize>i << 3));
    store<f32>(wEcs + (<usize>i << 2), <f32>Math.exp(cs));
    store<f32>(wWj + (<usize>i << 2), <f32>(Math.exp(run - cs) * load<f64>(delta + (<usize>(i * nh + h) << 3))));
  }
  return run;
}

/** M[i, j] = CB[i, j]·exp(cs_i − cs_j)·Δ_j for j ≤ i, 0 above the diagonal (whole padded rows). */
function decayMatrix(Lc: i32): void {
  const Lp = pad4(Lc);
  for (let i = 0; i < Lc; i++) {
    const ci = f64x2.splat(load<f64>(wCs + (<usize>i << 3)));
    const row = <usize>(i * Lp) << 2;
    let j = 0;
    for (; j <= i; j += 4) {
      const d01 = f32x4.demote_f64x2_zero(f64x2.sub(ci, v128.load(wCs + (<usize>j << 3))));
      const d23 = f32x4.demote_f64x2_zero(f64x2.sub(ci, v128.load(wCs + (<usize>j << 3), 16)));
      const e = vexp(v128.shuffle<f32>(d01, d23, 0, 1, 4, 5));
      const o = row + (<usize>j << 2);
      v128.store(wM + o, f32x4.mul(f32x4.mul(e, v128.load(wCb + o)), v128.load(wDl + (<usize>j << 2))));
    }
    for (let k = i + 1; k < Lp; k++) store<f32>(wM + row + (<usize>k << 2), 0);
  }
}

function ssdHead(Lc: i32, nh: i32, P: i32, N: i32, G: i32, h: i32, x: usize, gb: usize, gc: usize, delta: usize, A: usize, D: usize, state: usize, y: usize): void {
  const Lp = pad4(Lc), ldx = nh * P, ldbc = G * N;
  const csLast = decays(Lc, nh, h, delta, <f64>load<f32>(A + (<usize>h << 2)));
  decayMatrix(Lc);
  const xh = x + (<usize>(h * P) << 2), yh = y + (<usize>(h * P) << 2), sh = state + (<usize>(h * P * N) << 2);
  const dh = load<f32>(D + (<usize>h << 2));
  for (let i = 0; i < Lc; i++) scaleInto(yh + (<usize>(i * ldx) << 2), xh + (<usize>(i * ldx) << 2), P, dh);
  if (!allZero(sh, P * N)) { // a fresh sequence's first chunk has no carried state to read out
    for (let i = 0; i < Lc; i++) scaleInto(wCq + (<usize>(i * N) << 2), gc + (<usize>(i * ldbc) << 2), N, load<f32>(wEcs + (<usize>i << 2)));
    for (let p = 0; p < P; p++) {
      for (let n = 0; n < N; n++) store<f32>(wSt + (<usize>(n * P + p) << 2), load<f32>(sh + (<usize>(p * N + n) << 2)));
    }
    gemmAcc(wCq, N, wSt, P, yh, ldx, Lc, P, N, FULL); //      y += (exp(cs)∘C)·Sᵀ
  }
  gemmAcc(wM, Lp, xh, ldx, yh, ldx, Lc, P, Lc, K_CAUSAL); //   y += M·X
  for (let j = 0; j < Lc; j++) {
    const wv = load<f32>(wWj + (<usize>j << 2));
    const xr = xh + (<usize>(j * ldx) << 2);
    for (let p = 0; p < P; p++) store<f32>(wXwt + (<usize>(p * Lp + j) << 2), wv * load<f32>(xr + (<usize>p << 2)));
  }
  scaleInto(sh, sh, P * N, <f32>Math.exp(csLast));
  gemmAcc(wXwt, Lp, gb, ldbc, sh, N, P, N, Lc, FULL); //       S += (w∘X)ᵀ·B
}

/** Whether all n floats at p compare equal to 0 (±0; a NaN is not zero). */
function allZero(p: usize, n: i32): bool {
  let any = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) any = v128.or(any, f32x4.ne(v128.load(p + (<usize>i << 2)), f32x4.splat(0)));
  for (; i < n; i++) if (load<f32>(p + (<usize>i << 2)) != 0) return false;
  return !v128.any_true(any);
}

/** dst[0..n) = s · src[0..n) (dst may be src). */
function scaleInto(dst: usize, src: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(src + (<usize>i << 2)), sv));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)) * s);
}

export function ssmStep(T: i32, nh: i32, P: i32, N: i32, G: i32, x: usize, bm: usize, cm: usize, delta: usize, A: usize, D: usize, state: usize, y: usize): void {
  const hpg = nh / G, ldx = nh * P, ldbc = G * N;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nh; h++) {
      const g = h / hpg;
      const d = load<f64>(delta + (<usize>(t * nh + h) << 3));
      const dA = <f32>Math.exp(d * <f64>load<f32>(A + (<usize>h << 2)));
      const bo = bm + (<usize>(t * ldbc + g * N) << 2), co = cm + (<usize>(t * ldbc + g * N) << 2);
      const dh = load<f32>(D + (<usize>h << 2));
      for (let p = 0; p < P; p++) {
        const xo = <usize>(t * ldx + h * P + p) << 2;
        const xv = load<f32>(x + xo);
        const so = state + (<usize>((h * P + p) * N) << 2);
        store<f32>(y + xo, stateRow(so, bo, co, N, dA, <f32>(d * <f64>xv)) + dh * xv);
      }
    }
  }
}

/** s ← dA·s + dx·B over one state row of N; returns s·C. */
@inline function stateRow(s: usize, b: usize, c: usize, N: i32, dA: f32, dx: f32): f32 {
  const av = f32x4.splat(dA), xv = f32x4.splat(dx);
  let acc = f32x4.splat(0);
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const o = <usize>n << 2;
    const v = f32x4.add(f32x4.mul(av, v128.load(s + o)), f32x4.mul(xv, v128.load(b + o)));
    v128.store(s + o, v);
    acc = f32x4.add(acc, f32x4.mul(v, v128.load(c + o)));
  }
  let r = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; n < N; n++) {
    const o = <usize>n << 2;
    const v = dA * load<f32>(s + o) + dx * load<f32>(b + o);
    store<f32>(s + o, v);
    r += v * load<f32>(c + o);
  }
  return r;
}
