/**
 * Integer dot products against int8-quantized activations (ggml's vec_dot with Q8_0 inputs): the input rows arrive
 * as Q8_0 codes `xq` [T, colsP] (int8) with one f32 scale per 32 `xd` [T, colsP/32], quantized by the JS side the
 * way ggml's quantize_row_q8_0 does. Per 32-column block, Σ q_w · q_x is exact in i32 (i8 × i8 products summed
 * pairwise, i32x4 lanes), then scaled by d_w · d_x in f32: the arithmetic of llama.cpp's Q4_0 / Q8_0 / MXFP4 / NVFP4
 * CPU kernels, and the same value as ref's fake-quantized f32 product up to f32 rounding.
 * Weight layouts are the G4 ones of blocks.ts.
 */
import { hsum4, lane, halfToF32 } from './common';

const KVALUES: v128 = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

/** Σ a·b over 16 int8 lanes, as four i32 partial sums. */
@inline function idot16(a: v128, b: v128): v128 {
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(a, b)), i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(a, b)));
}

/** Σ a·b over the low (lo = true) or high 8 int8 lanes, as four i32 partial sums. */
@inline function idot8(a: v128, b: v128, lo: bool): v128 {
  return i32x4.extadd_pairwise_i16x8_s(lo ? i16x8.extmul_low_i8x16_s(a, b) : i16x8.extmul_high_i8x16_s(a, b));
}

@inline function q4(n: v128, hi: bool): v128 {
  return i8x16.sub(hi ? i8x16.shr_u(n, 4) : v128.and(n, i8x16.splat(0x0f)), i8x16.splat(8));
}
@inline function fp4(n: v128, hi: bool): v128 {
  return i8x16.swizzle(KVALUES, hi ? i8x16.shr_u(n, 4) : v128.and(n, i8x16.splat(0x0f)));
}
@inline function tblScale(tbl: usize, p: usize): f32 {
  return load<f32>(tbl + (<usize>load<u8>(p) << 2));
}

/** One token: groups g0..g1 of a Q8_0 (fmt 5), Q4_0 (6) or FP4X32 (7) matrix; out[g·4 + i]. */
@inline function matvec32(fmt: i32, w: usize, xq: usize, xd: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize): void {
  const nb = <usize>(colsP >> 5);
  const bb: usize = fmt == 5 ? 136 : fmt == 6 ? 72 : 68;
  const gb = nb * bb;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * bb;
      const x0 = v128.load(xq + (b << 5)), x1 = v128.load(xq + (b << 5), 16);
      const dx = f32x4.splat(load<f32>(xd + (b << 2)));
      let s0: v128, s1: v128, s2: v128, s3: v128, d: v128;
      if (fmt == 5) {
        d = f32x4.mul(halfToF32(v128.load16x4_s(p)), dx);
        s0 = i32x4.add(idot16(v128.load(p, 8), x0), idot16(v128.load(p, 24), x1));
        s1 = i32x4.add(idot16(v128.load(p, 40), x0), idot16(v128.load(p, 56), x1));
        s2 = i32x4.add(idot16(v128.load(p, 72), x0), idot16(v128.load(p, 88), x1));
        s3 = i32x4.add(idot16(v128.load(p, 104), x0), idot16(v128.load(p, 120), x1));
      } else if (fmt == 6) {
        d = f32x4.mul(halfToF32(v128.load16x4_s(p)), dx);
        const n0 = v128.load(p, 8), n1 = v128.load(p, 24), n2 = v128.load(p, 40), n3 = v128.load(p, 56);
        s0 = i32x4.add(idot16(q4(n0, false), x0), idot16(q4(n0, true), x1));
        s1 = i32x4.add(idot16(q4(n1, false), x0), idot16(q4(n1, true), x1));
        s2 = i32x4.add(idot16(q4(n2, false), x0), idot16(q4(n2, true), x1));
        s3 = i32x4.add(idot16(q4(n3, false), x0), idot16(q4(n3, true), x1));
      } else {
        let sc = f32x4.splat(tblScale(tbl, p));
        sc = f32x4.replace_lane(sc, 1, tblScale(tbl, p + 1));
        sc = f32x4.replace_lane(sc, 2, tblScale(tbl, p + 2));
        sc = f32x4.replace_lane(sc, 3, tblScale(tbl, p + 3));
        d = f32x4.mul(sc, dx);
        const n0 = v128.load(p, 4), n1 = v128.load(p, 20), n2 = v128.load(p, 36), n3 = v128.load(p, 52);
        s0 = i32x4.add(idot16(fp4(n0, false), x0), idot16(fp4(n0, true), x1));
        s1 = i32x4.add(idot16(fp4(n1, false), x0), idot16(fp4(n1, true), x1));
        s2 = i32x4.add(idot16(fp4(n2, false), x0), idot16(fp4(n2, true), x1));
        s3 = i32x4.add(idot16(fp4(n3, false), x0), idot16(fp4(n3, true), x1));
      }
      a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(s0), lane(d, 0)));
      a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(s1), lane(d, 1)));
      a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(s2), lane(d, 2)));
      a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(s3), lane(d, 3)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

/** One row of an FP4X64 block against two Q8_0 input blocks (x0..x3: codes 0..63, dx0/dx1: their scales). */
@inline function rowFp4x64(q: usize, sp: usize, x0: v128, x1: v128, x2: v128, x3: v128, dx0: f32, dx1: f32, tbl: usize): v128 {
  const A = v128.load(q), B = v128.load(q, 16);
  const la = fp4(A, false), ha = fp4(A, true), lb = fp4(B, false), hb = fp4(B, true);
  // la holds columns 0..7 | 16..23, ha 8..15 | 24..31 (ggml NVFP4 order per 16): gather the inputs to match
  const xa = i8x16.shuffle(x0, x1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const xb = i8x16.shuffle(x0, x1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const xc = i8x16.shuffle(x2, x3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const xe = i8x16.shuffle(x2, x3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const s0 = f32x4.convert_i32x4_s(i32x4.add(idot8(la, xa, true), idot8(ha, xb, true)));
  const s1 = f32x4.convert_i32x4_s(i32x4.add(idot8(la, xa, false), idot8(ha, xb, false)));
  const s2 = f32x4.convert_i32x4_s(i32x4.add(idot8(lb, xc, true), idot8(hb, xe, true)));
  const s3 = f32x4.convert_i32x4_s(i32x4.add(idot8(lb, xc, false), idot8(hb, xe, false)));
  const u = f32x4.add(f32x4.mul(s0, f32x4.splat(tblScale(tbl, sp) * dx0)), f32x4.mul(s1, f32x4.splat(tblScale(tbl, sp + 1) * dx0)));
  const v = f32x4.add(f32x4.mul(s2, f32x4.splat(tblScale(tbl, sp + 2) * dx1)), f32x4.mul(s3, f32x4.splat(tblScale(tbl, sp + 3) * dx1)));
  return f32x4.add(u, v);
}

function matvecFp4x64(w: usize, xq: usize, xd: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize, gs: f32): void {
  const nb = <usize>(colsP >> 6);
  const gb = nb * 144;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 144, xp = xq + (b << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      const dx0 = load<f32>(xd + (b << 3)), dx1 = load<f32>(xd + (b << 3), 4);
      a0 = f32x4.add(a0, rowFp4x64(p + 16, p, x0, x1, x2, x3, dx0, dx1, tbl));
      a1 = f32x4.add(a1, rowFp4x64(p + 48, p + 4, x0, x1, x2, x3, dx0, dx1, tbl));
      a2 = f32x4.add(a2, rowFp4x64(p + 80, p + 8, x0, x1, x2, x3, dx0, dx1, tbl));
      a3 = f32x4.add(a3, rowFp4x64(p + 112, p + 12, x0, x1, x2, x3, dx0, dx1, tbl));
    }
    v128.store(out + (<usize>g << 4), f32x4.mul(hsum4(a0, a1, a2, a3), f32x4.splat(gs)));
  }
}

/**
 * out[t·os + r] for groups g0..g1, all T tokens, against Q8_0-quantized inputs (xq: [T, colsP] int8, xd: [T, colsP/32]
 * f32). Supported fmt: Q8_0 (5), Q4_0 (6), FP4X32 (7), FP4X64 (8); weights are re-read per token (this path is for
 * activation emulation, where decode is T = 1).
 */
export function matmulQ8(fmt: i32, w: usize, xq: usize, xd: usize, out: usize, colsP: i32, T: i32, g0: i32, g1: i32, os: i32, tbl: usize, gs: f32): void {
  for (let t = 0; t < T; t++) {
    const q = xq + <usize>t * <usize>colsP;
    const d = xd + ((<usize>t * <usize>colsP) >> 3);
    const o = out + ((<usize>t * <usize>os) << 2);
    if (fmt == 5) matvec32(5, w, q, d, o, colsP, g0, g1, tbl);
    else if (fmt == 6) matvec32(6, w, q, d, o, colsP, g0, g1, tbl);
    else if (fmt == 7) matvec32(7, w, q, d, o, colsP, g0, g1, tbl);
    else if (fmt == 8) matvecFp4x64(w, q, d, o, colsP, g0, g1, tbl, gs);
    else unreachable();
  }
}
