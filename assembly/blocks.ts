/**
 * Block-quantized weight formats in G4 layout (see common.ts). Per column block, the 4 rows' scales, then the 4 rows'
 * codes:
 *   Q8_0   32 columns, 136 bytes: 4 × f16 d, then 4 × 32 int8                      x = q · d
 *   Q4_0   32 columns,  72 bytes: 4 × f16 d, then 4 × 16 bytes of nibbles          x = (nibble − 8) · d
 *          (byte j: column j low, column j + 16 high, as ggml stores it)
 *   FP4X32 32 columns,  68 bytes: 4 scale bytes, then 4 × 16 bytes of E2M1 nibbles (ggml MXFP4 order, as Q4_0)
 *   FP4X64 64 columns, 144 bytes: 16 scale bytes (row i, sub-block s at 4i + s), then 4 × 32 bytes of E2M1 nibbles
 *          in ggml NVFP4 order (per 16 columns: byte j holds column j low and column j + 8 high)
 * E2M1 codes decode through the doubled table {0, 1, 2, 3, 4, 6, 8, 12, 0, −1, …, −12}; a scale byte decodes through a
 * 256-entry f32 table `tbl` written by the JS side (halved, to undo the doubling), and FP4X64 multiplies by a tensor
 * scale `gs` (ModelOpt's weight_scale_2; 1 for ggml).
 */
import { hsum4, lane, halfToF32, dot16, tile16, i8lo0, i8lo1, i8hi0, i8hi1 } from './common';

const KVALUES: v128 = i8x16(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);

@inline function nibLo(n: v128): v128 {
  return v128.and(n, i8x16.splat(0x0f));
}
@inline function nibHi(n: v128): v128 {
  return i8x16.shr_u(n, 4);
}
@inline function q4Lo(n: v128): v128 {
  return i8x16.sub(nibLo(n), i8x16.splat(8));
}
@inline function q4Hi(n: v128): v128 {
  return i8x16.sub(nibHi(n), i8x16.splat(8));
}
@inline function fp4Lo(n: v128): v128 {
  return i8x16.swizzle(KVALUES, nibLo(n));
}
@inline function fp4Hi(n: v128): v128 {
  return i8x16.swizzle(KVALUES, nibHi(n));
}
@inline function scaleOf(tbl: usize, p: usize): f32 {
  return load<f32>(tbl + (<usize>load<u8>(p) << 2));
}

export function matvecQ8_0(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  const nb = <usize>(colsP >> 5);
  const gb = nb * 136;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 136, xb = x + (b << 7);
      const d = halfToF32(v128.load16x4_s(p));
      a0 = f32x4.add(a0, f32x4.mul(f32x4.add(dot16(v128.load(p, 8), xb), dot16(v128.load(p, 24), xb + 64)), lane(d, 0)));
      a1 = f32x4.add(a1, f32x4.mul(f32x4.add(dot16(v128.load(p, 40), xb), dot16(v128.load(p, 56), xb + 64)), lane(d, 1)));
      a2 = f32x4.add(a2, f32x4.mul(f32x4.add(dot16(v128.load(p, 72), xb), dot16(v128.load(p, 88), xb + 64)), lane(d, 2)));
      a3 = f32x4.add(a3, f32x4.mul(f32x4.add(dot16(v128.load(p, 104), xb), dot16(v128.load(p, 120), xb + 64)), lane(d, 3)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

export function tileQ8_0(wg: usize, tile: usize, colsP: i32): void {
  const nb = <usize>(colsP >> 5);
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * 136, t = tile + (b << 9);
    const d = halfToF32(v128.load16x4_s(p));
    tile16(v128.load(p, 8), lane(d, 0), t);
    tile16(v128.load(p, 24), lane(d, 0), t + 256);
    tile16(v128.load(p, 40), lane(d, 1), t + 16);
    tile16(v128.load(p, 56), lane(d, 1), t + 272);
    tile16(v128.load(p, 72), lane(d, 2), t + 32);
    tile16(v128.load(p, 88), lane(d, 2), t + 288);
    tile16(v128.load(p, 104), lane(d, 3), t + 48);
    tile16(v128.load(p, 120), lane(d, 3), t + 304);
  }
}

/** Σ over one row's 32 codes (16 bytes of nibbles at n) · x, for Q4_0 (fp4 = false) or E2M1 (fp4 = true) codes. */
@inline function dotNib32(n: v128, x: usize, fp4: bool): v128 {
  return f32x4.add(dot16(fp4 ? fp4Lo(n) : q4Lo(n), x), dot16(fp4 ? fp4Hi(n) : q4Hi(n), x + 64));
}
@inline function tileNib32(n: v128, s: v128, t: usize, fp4: bool): void {
  tile16(fp4 ? fp4Lo(n) : q4Lo(n), s, t);
  tile16(fp4 ? fp4Hi(n) : q4Hi(n), s, t + 256);
}

export function matvecQ4_0(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  const nb = <usize>(colsP >> 5);
  const gb = nb * 72;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 72, xb = x + (b << 7);
      const d = halfToF32(v128.load16x4_s(p));
      a0 = f32x4.add(a0, f32x4.mul(dotNib32(v128.load(p, 8), xb, false), lane(d, 0)));
      a1 = f32x4.add(a1, f32x4.mul(dotNib32(v128.load(p, 24), xb, false), lane(d, 1)));
      a2 = f32x4.add(a2, f32x4.mul(dotNib32(v128.load(p, 40), xb, false), lane(d, 2)));
      a3 = f32x4.add(a3, f32x4.mul(dotNib32(v128.load(p, 56), xb, false), lane(d, 3)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

export function tileQ4_0(wg: usize, tile: usize, colsP: i32): void {
  const nb = <usize>(colsP >> 5);
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * 72, t = tile + (b << 9);
    const d = halfToF32(v128.load16x4_s(p));
    tileNib32(v128.load(p, 8), lane(d, 0), t, false);
    tileNib32(v128.load(p, 24), lane(d, 1), t + 16, false);
    tileNib32(v128.load(p, 40), lane(d, 2), t + 32, false);
    tileNib32(v128.load(p, 56), lane(d, 3), t + 48, false);
  }
}

export function matvecFp4x32(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize): void {
  const nb = <usize>(colsP >> 5);
  const gb = nb * 68;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 68, xb = x + (b << 7);
      a0 = f32x4.add(a0, f32x4.mul(dotNib32(v128.load(p, 4), xb, true), f32x4.splat(scaleOf(tbl, p))));
      a1 = f32x4.add(a1, f32x4.mul(dotNib32(v128.load(p, 20), xb, true), f32x4.splat(scaleOf(tbl, p + 1))));
      a2 = f32x4.add(a2, f32x4.mul(dotNib32(v128.load(p, 36), xb, true), f32x4.splat(scaleOf(tbl, p + 2))));
      a3 = f32x4.add(a3, f32x4.mul(dotNib32(v128.load(p, 52), xb, true), f32x4.splat(scaleOf(tbl, p + 3))));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

export function tileFp4x32(wg: usize, tile: usize, colsP: i32, tbl: usize): void {
  const nb = <usize>(colsP >> 5);
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * 68, t = tile + (b << 9);
    for (let i: usize = 0; i < 4; i++) tileNib32(v128.load(p + 4 + (i << 4)), f32x4.splat(scaleOf(tbl, p + i)), t + (i << 4), true);
  }
}

/** Σ over the 8 codes in lanes 0..7 (lo = true) or 8..15 of an i8x16 · 8 f32 at x. */
@inline function dot8(v: v128, x: usize, lo: bool): v128 {
  return lo
    ? f32x4.add(f32x4.mul(i8lo0(v), v128.load(x)), f32x4.mul(i8lo1(v), v128.load(x, 16)))
    : f32x4.add(f32x4.mul(i8hi0(v), v128.load(x)), f32x4.mul(i8hi1(v), v128.load(x, 16)));
}

/** One row's 64 columns of an FP4X64 block: Σ_s scale_s · Σ codes·x, with row data at q and scale bytes at sp. */
@inline function rowFp4x64(q: usize, sp: usize, x: usize, tbl: usize): v128 {
  const A = v128.load(q), B = v128.load(q, 16);
  const la = fp4Lo(A), ha = fp4Hi(A), lb = fp4Lo(B), hb = fp4Hi(B);
  const s0 = f32x4.add(dot8(la, x, true), dot8(ha, x + 32, true));
  const s1 = f32x4.add(dot8(la, x + 64, false), dot8(ha, x + 96, false));
  const s2 = f32x4.add(dot8(lb, x + 128, true), dot8(hb, x + 160, true));
  const s3 = f32x4.add(dot8(lb, x + 192, false), dot8(hb, x + 224, false));
  const u = f32x4.add(f32x4.mul(s0, f32x4.splat(scaleOf(tbl, sp))), f32x4.mul(s1, f32x4.splat(scaleOf(tbl, sp + 1))));
  const v = f32x4.add(f32x4.mul(s2, f32x4.splat(scaleOf(tbl, sp + 2))), f32x4.mul(s3, f32x4.splat(scaleOf(tbl, sp + 3))));
  return f32x4.add(u, v);
}

export function matvecFp4x64(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32, tbl: usize, gs: f32): void {
  const nb = <usize>(colsP >> 6);
  const gb = nb * 144;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * 144, xb = x + (b << 8);
      a0 = f32x4.add(a0, rowFp4x64(p + 16, p, xb, tbl));
      a1 = f32x4.add(a1, rowFp4x64(p + 48, p + 4, xb, tbl));
      a2 = f32x4.add(a2, rowFp4x64(p + 80, p + 8, xb, tbl));
      a3 = f32x4.add(a3, rowFp4x64(p + 112, p + 12, xb, tbl));
    }
    v128.store(out + (<usize>g << 4), f32x4.mul(hsum4(a0, a1, a2, a3), f32x4.splat(gs)));
  }
}

/** Stores the 8 codes in lanes 0..7 (lo) or 8..15 of v, times s, as tile columns 0..3 at t and 4..7 at t + 64. */
@inline function tile8(v: v128, s: v128, t: usize, lo: bool): void {
  v128.store(t, f32x4.mul(lo ? i8lo0(v) : i8hi0(v), s));
  v128.store(t, f32x4.mul(lo ? i8lo1(v) : i8hi1(v), s), 64);
}

export function tileFp4x64(wg: usize, tile: usize, colsP: i32, tbl: usize, gs: f32): void {
  const nb = <usize>(colsP >> 6);
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * 144, t0 = tile + (b << 10);
    for (let i: usize = 0; i < 4; i++) {
      const q = p + 16 + (i << 5), sp = p + (i << 2), t = t0 + (i << 4);
      const A = v128.load(q), B = v128.load(q, 16);
      const la = fp4Lo(A), ha = fp4Hi(A), lb = fp4Lo(B), hb = fp4Hi(B);
      const c0 = f32x4.splat(scaleOf(tbl, sp) * gs), c1 = f32x4.splat(scaleOf(tbl, sp + 1) * gs);
      const c2 = f32x4.splat(scaleOf(tbl, sp + 2) * gs), c3 = f32x4.splat(scaleOf(tbl, sp + 3) * gs);
      tile8(la, c0, t, true);
      tile8(ha, c0, t + 128, true);
      tile8(la, c1, t + 256, false);
      tile8(ha, c1, t + 384, false);
      tile8(lb, c2, t + 512, true);
      tile8(hb, c2, t + 640, true);
      tile8(lb, c3, t + 768, false);
      tile8(hb, c3, t + 896, false);
    }
  }
}
