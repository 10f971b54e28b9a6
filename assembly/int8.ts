/**
 * Integer dot products against int8-quantized activations (ggml's vec_dot with Q8_0 inputs): the input rows arrive
 * as Q8_0 codes `xq` [T, colsP] (int8) with one f32 scale per 32 `xd` [T, colsP/32], quantized by the JS side the
 * way ggml's quantize_row_q8_0 does, and the codes' sums per 16 columns `xs` [T, colsP/16] (i32). Per block (32
 * columns; 16 for FP4X64's sub-blocks) and row, Σ q_w · q_x is exact in i32 and is then scaled by d_w · d_x in f32:
 * the arithmetic of llama.cpp's Q4_0 / Q8_0 / MXFP4 / NVFP4 CPU kernels, and the same value as ref's fake-quantized
 * f32 product up to f32 rounding. Weight layouts are the G4 ones of blocks.ts.
 *
 * Two builds of this file (ASC_FEATURE_RELAXED_SIMD, see package.json `build:wasm`):
 *   simd128        i8 × i8 products widened to i16 and summed pairwise into i32 lanes;
 *   relaxed-simd   `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 MACs in one instruction: vpdpbusd with AVX-VNNI,
 *                  pmaddubsw + pmaddwd without). Its second operand must be in [0, 127] to be well defined, so the
 *                  weights go in unsigned: Q4_0 as the raw nibble q ∈ [0, 15] with 8 · Σx taken off
 *                  (Σ(q − 8)·x = Σq·x − 8·Σx), FP4 as e + 12 ∈ [0, 24] (e: the doubled E2M1 value) with 12 · Σx
 *                  taken off. The JS side loads this build only where a probe finds the dot right (kernels.ts).
 * Both reduce each row's lanes to the exact block total before any float operation, so the two builds return
 * bit-identical results. Q8_0 weights (signed bytes) have one kernel in both builds.
 */
import { hsum4, lane, halfToF32 } from './common';

const RELAXED: bool = ASC_FEATURE_RELAXED_SIMD;

/** Doubled E2M1 values by code, and the same plus 12 (non-negative, for the relaxed dot). */
const KVALUES: v128 = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
const KVALUES12: v128 = i8x16(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);

/** Σ a·b over 16 int8 lanes, as four i32 partial sums (simd128). */
@inline function idot16(a: v128, b: v128): v128 {
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(a, b)), i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(a, b)));
}

/** Σ a·b over the low (lo = true) or high 8 int8 lanes, as four i32 partial sums (simd128). */
@inline function idot8(a: v128, b: v128, lo: bool): v128 {
  return i32x4.extadd_pairwise_i16x8_s(lo ? i16x8.extmul_low_i8x16_s(a, b) : i16x8.extmul_high_i8x16_s(a, b));
}

/** acc + Σ x·u per 4 lanes; u must be in [0, 127] (relaxed-simd). */
@inline function rdot(x: v128, u: v128, acc: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, u, acc);
}

/** Four i32x4 vectors → [Σa, Σb, Σc, Σd] (exact). */
@inline function isum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const x = i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
  const y = i32x4.add(v128.shuffle<i32>(c, d, 0, 1, 4, 5), v128.shuffle<i32>(c, d, 2, 3, 6, 7));
  return i32x4.add(v128.shuffle<i32>(x, y, 0, 2, 4, 6), v128.shuffle<i32>(x, y, 1, 3, 5, 7));
}

@inline function nibLo(n: v128): v128 {
  return v128.and(n, i8x16.splat(0x0f));
}
@inline function nibHi(n: v128): v128 {
  return v128.and(i16x8.shr_u(n, 4), i8x16.splat(0x0f));
}
@inline function tblScale(tbl: usize, p: usize): f32 {
  return load<f32>(tbl + (<usize>load<u8>(p) << 2));
}

/**
 * One row of a 32-column Q4_0 (fp4 = false) or FP4X32 (fp4 = true) block: 16 bytes of nibbles `n` (low: columns
 * 0..15 against x0, high: 16..31 against x1) → i32 lanes summing to Σ w·x. relaxed-simd: the dots give Σ (w + off)·x
 * (off = 8 for Q4_0, 12 for FP4) and `init`, whose lanes sum to −off · Σx, takes the offset back out.
 */
@inline function row32(n: v128, x0: v128, x1: v128, fp4: bool, init: v128): v128 {
  if (RELAXED) {
    const lo = fp4 ? i8x16.swizzle(KVALUES12, nibLo(n)) : nibLo(n);
    const hi = fp4 ? i8x16.swizzle(KVALUES12, nibHi(n)) : nibHi(n);
    return rdot(x1, hi, rdot(x0, lo, init));
  }
  const lo = fp4 ? i8x16.swizzle(KVALUES, nibLo(n)) : i8x16.sub(nibLo(n), i8x16.splat(8));
  const hi = fp4 ? i8x16.swizzle(KVALUES, nibHi(n)) : i8x16.sub(nibHi(n), i8x16.splat(8));
  return i32x4.add(idot16(lo, x0), idot16(hi, x1));
}

/** One token: groups g0..g1 of a Q8_0 matrix; out[g·4 + i]. */
function matvecQ8_0(w: usize, xq: usize, xd: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  const nb = <usize>(colsP >> 5);
  const gb = nb * 136;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 136;
      const x0 = v128.load(xq + (b << 5)), x1 = v128.load(xq + (b << 5), 16);
      const d = f32x4.mul(halfToF32(v128.load16x4_s(p)), f32x4.splat(load<f32>(xd + (b << 2))));
      const s0 = i32x4.add(idot16(v128.load(p, 8), x0), idot16(v128.load(p, 24), x1));
      const s1 = i32x4.add(idot16(v128.load(p, 40), x0), idot16(v128.load(p, 56), x1));
      const s2 = i32x4.add(idot16(v128.load(p, 72), x0), idot16(v128.load(p, 88), x1));
      const s3 = i32x4.add(idot16(v128.load(p, 104), x0), idot16(v128.load(p, 120), x1));
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(s0), lane(d, 0)));
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(s1), lane(d, 1)));
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(s2), lane(d, 2)));
      a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(s3), lane(d, 3)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

/**
 * One token: groups g0..g1 of a Q4_0 (fp4 = false, 72-byte blocks: 4 f16 scales, 4 × 16 code bytes) or FP4X32
 * (fp4 = true, 68-byte blocks: 4 scale bytes through `tbl`, 4 × 16 code bytes) matrix; out[g·4 + i]. Per block the
 * four rows' exact totals form one i32x4 (lanes = rows), then acc += f32(total) · (d_w · d_x).
 */
@inline function matvecNib32(fp4: bool, w: usize, xq: usize, xd: usize, xs: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize): void {
  const nb = <usize>(colsP >> 5);
  const bb: usize = fp4 ? 68 : 72;
  const cb: usize = fp4 ? 4 : 8; // scale bytes before the codes
  const gb = nb * bb;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let acc = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * bb;
      const x0 = v128.load(xq + (b << 5)), x1 = v128.load(xq + (b << 5), 16);
      const dx = f32x4.splat(load<f32>(xd + (b << 2)));
      let dw: v128;
      if (fp4) {
        dw = f32x4.splat(tblScale(tbl, p));
        dw = f32x4.replace_lane(dw, 1, tblScale(tbl, p + 1));
        dw = f32x4.replace_lane(dw, 2, tblScale(tbl, p + 2));
        dw = f32x4.replace_lane(dw, 3, tblScale(tbl, p + 3));
      } else {
        dw = halfToF32(v128.load16x4_s(p));
      }
      const q = p + cb;
      // relaxed: [−off·Σx(0..15), −off·Σx(16..31), 0, 0]
      const init = RELAXED ? i32x4.mul(v128.load64_zero(xs + (b << 3)), i32x4.splat(fp4 ? -12 : -8)) : i32x4.splat(0);
      const s0 = row32(v128.load(q), x0, x1, fp4, init), s1 = row32(v128.load(q, 16), x0, x1, fp4, init);
      const s2 = row32(v128.load(q, 32), x0, x1, fp4, init), s3 = row32(v128.load(q, 48), x0, x1, fp4, init);
      const s = isum4(s0, s1, s2, s3);
      acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, dx)));
    }
    v128.store(out + (<usize>g << 4), acc);
  }
}

/**
 * One row of an FP4X64 block (32 code bytes at q) → its four 16-column sub-block totals [s0, s1, s2, s3] (exact).
 * xa..xe: the inputs gathered to the nibble order. relaxed-simd: the dots give Σ (e + 12)·x; iu = [−12·Σx₀, 0,
 * −12·Σx₁, 0] and iv (the same for sub-blocks 2, 3) take the offset back out.
 */
@inline function rowFp4x64(q: usize, xa: v128, xb: v128, xc: v128, xe: v128, iu: v128, iv: v128): v128 {
  const A = v128.load(q), B = v128.load(q, 16);
  if (RELAXED) {
    const la = i8x16.swizzle(KVALUES12, nibLo(A)), ha = i8x16.swizzle(KVALUES12, nibHi(A));
    const lb = i8x16.swizzle(KVALUES12, nibLo(B)), hb = i8x16.swizzle(KVALUES12, nibHi(B));
    const u = rdot(xb, ha, rdot(xa, la, iu)); // lanes: s0, s0, s1, s1
    const v = rdot(xe, hb, rdot(xc, lb, iv)); // lanes: s2, s2, s3, s3
    return i32x4.add(v128.shuffle<i32>(u, v, 0, 2, 4, 6), v128.shuffle<i32>(u, v, 1, 3, 5, 7));
  }
  const la = i8x16.swizzle(KVALUES, nibLo(A)), ha = i8x16.swizzle(KVALUES, nibHi(A));
  const lb = i8x16.swizzle(KVALUES, nibLo(B)), hb = i8x16.swizzle(KVALUES, nibHi(B));
  const s0 = i32x4.add(idot8(la, xa, true), idot8(ha, xb, true));
  const s1 = i32x4.add(idot8(la, xa, false), idot8(ha, xb, false));
  const s2 = i32x4.add(idot8(lb, xc, true), idot8(hb, xe, true));
  const s3 = i32x4.add(idot8(lb, xc, false), idot8(hb, xe, false));
  return isum4(s0, s1, s2, s3);
}

/** Row scales of one FP4X64 block (4 scale bytes at sp) × the two input block scales: [d0·dx0, d1·dx0, d2·dx1, d3·dx1]. */
@inline function scales64(sp: usize, tbl: usize, dx: v128): v128 {
  let d = f32x4.splat(tblScale(tbl, sp));
  d = f32x4.replace_lane(d, 1, tblScale(tbl, sp + 1));
  d = f32x4.replace_lane(d, 2, tblScale(tbl, sp + 2));
  d = f32x4.replace_lane(d, 3, tblScale(tbl, sp + 3));
  return f32x4.mul(d, dx);
}

/** acc + f32(s) · d. */
@inline function accum(acc: v128, s: v128, d: v128): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
}

/** One token: groups g0..g1 of an FP4X64 matrix (144-byte blocks, ggml NVFP4 nibble order; see blocks.ts). */
function matvecFp4x64(w: usize, xq: usize, xd: usize, xs: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize, gs: f32): void {
  const nb = <usize>(colsP >> 6);
  const gb = nb * 144;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 144, xp = xq + (b << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      // the low nibbles hold columns 0..7 | 16..23 of each 32, the high ones 8..15 | 24..31: gather the inputs to match
      const xa = i8x16.shuffle(x0, x1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const xb = i8x16.shuffle(x0, x1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      const xc = i8x16.shuffle(x2, x3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      const xe = i8x16.shuffle(x2, x3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
      const dx = v128.shuffle<f32>(v128.load64_splat(xd + (b << 3)), f32x4.splat(0), 0, 0, 1, 1);
      const off = RELAXED ? i32x4.mul(v128.load(xs + (b << 4)), i32x4.splat(-12)) : i32x4.splat(0);
      const iu = v128.shuffle<i32>(off, i32x4.splat(0), 0, 4, 1, 4), iv = v128.shuffle<i32>(off, i32x4.splat(0), 2, 4, 3, 4);
      a0 = accum(a0, rowFp4x64(p + 16, xa, xb, xc, xe, iu, iv), scales64(p, tbl, dx));
      a1 = accum(a1, rowFp4x64(p + 48, xa, xb, xc, xe, iu, iv), scales64(p + 4, tbl, dx));
      a2 = accum(a2, rowFp4x64(p + 80, xa, xb, xc, xe, iu, iv), scales64(p + 8, tbl, dx));
      a3 = accum(a3, rowFp4x64(p + 112, xa, xb, xc, xe, iu, iv), scales64(p + 12, tbl, dx));
    }
    v128.store(out + (<usize>g << 4), f32x4.mul(hsum4(a0, a1, a2, a3), f32x4.splat(gs)));
  }
}

/**
 * out[t·os + r] for groups g0..g1, all T tokens, against Q8_0-quantized inputs (xq: [T, colsP] int8, xd: [T, colsP/32]
 * f32, xs: [T, colsP/16] i32). Supported fmt: Q8_0 (5), Q4_0 (6), FP4X32 (7), FP4X64 (8); weights are re-read per
 * token (this path is for activation emulation, where decode is T = 1).
 */
export function matmulQ8(fmt: i32, w: usize, xq: usize, xd: usize, xs: usize, out: usize, colsP: i32, T: i32, g0: i32, g1: i32, os: i32, tbl: usize, gs: f32): void {
  for (let t = 0; t < T; t++) {
    const q = xq + <usize>t * <usize>colsP;
    const d = xd + ((<usize>t * <usize>colsP) >> 3);
    const s = xs + ((<usize>t * <usize>colsP) >> 2);
    const o = out + ((<usize>t * <usize>os) << 2);
    if (fmt == 5) matvecQ8_0(w, q, d, o, colsP, g0, g1);
    else if (fmt == 6) matvecNib32(false, w, q, d, s, o, colsP, g0, g1, tbl);
    else if (fmt == 7) matvecNib32(true, w, q, d, s, o, colsP, g0, g1, tbl);
    else if (fmt == 8) matvecFp4x64(w, q, d, s, o, colsP, g0, g1, tbl, gs);
    else unreachable();
  }
}
