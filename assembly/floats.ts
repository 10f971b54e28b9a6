/**
 * Float weight formats in G4 layout (see common.ts): f16, bf16 (8 columns per block, 16 bytes per row) and FP8
 * E4M3 / E5M2 (16 columns per block, 16 bytes per row, times a decode scale per row applied at the end).
 *
 * f16 / bf16 blocks are stored lane-paired: the 8 halves of a row block are in the order c0 c4 c1 c5 c2 c6 c3 c7,
 * so 32-bit lane k holds column k in its low half and column k+4 in its high half, and two shifts or masks give
 * columns 0..3 and 4..7 as f32 without any widening.
 */
import { TWO_112, TWO_120, hsum4, gemmTile } from './common';

const HALF_MASK: i32 = <i32>0x8fffe000;

/** f16 pair lanes → f32 of the low halves (columns 0..3) and of the high halves (columns 4..7). */
@inline function f16Lo(p: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(i32x4.shl(p, 16), 3), i32x4.splat(HALF_MASK)), f32x4.splat(TWO_112));
}
@inline function f16Hi(p: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(p, 3), i32x4.splat(HALF_MASK)), f32x4.splat(TWO_112));
}
@inline function bf16Lo(p: v128): v128 {
  return i32x4.shl(p, 16);
}
@inline function bf16Hi(p: v128): v128 {
  return v128.and(p, i32x4.splat(<i32>0xffff0000));
}

@inline function halfLo(p: v128, bf: bool): v128 {
  return bf ? bf16Lo(p) : f16Lo(p);
}
@inline function halfHi(p: v128, bf: bool): v128 {
  return bf ? bf16Hi(p) : f16Hi(p);
}

/** T = 1 over groups g0..g1 of an f16 (bf = false) or bf16 (bf = true) G4 matrix. */
@inline function matvecHalf(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32, bf: bool): void {
  const gb = <usize>colsP << 3;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let o: usize = 0, c: usize = 0; o < gb; o += 64, c += 32) {
      const xl = v128.load(x + c), xh = v128.load(x + c, 16);
      const p0 = v128.load(wg + o), p1 = v128.load(wg + o, 16), p2 = v128.load(wg + o, 32), p3 = v128.load(wg + o, 48);
      a0 = f32x4.add(a0, f32x4.add(f32x4.mul(halfLo(p0, bf), xl), f32x4.mul(halfHi(p0, bf), xh)));
      a1 = f32x4.add(a1, f32x4.add(f32x4.mul(halfLo(p1, bf), xl), f32x4.mul(halfHi(p1, bf), xh)));
      a2 = f32x4.add(a2, f32x4.add(f32x4.mul(halfLo(p2, bf), xl), f32x4.mul(halfHi(p2, bf), xh)));
      a3 = f32x4.add(a3, f32x4.add(f32x4.mul(halfLo(p3, bf), xl), f32x4.mul(halfHi(p3, bf), xh)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

export function matvecF16(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  matvecHalf(w, x, out, colsP, g0, g1, false);
}
export function matvecBf16(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  matvecHalf(w, x, out, colsP, g0, g1, true);
}

/** Decodes one f16 / bf16 G4 group (at wg) into an f32 tile. */
export function tileHalf(wg: usize, tile: usize, colsP: i32, bf: bool): void {
  const gb = <usize>colsP << 3;
  for (let o: usize = 0, t: usize = tile; o < gb; o += 64, t += 128) {
    for (let i: usize = 0; i < 64; i += 16) {
      const p = v128.load(wg + o + i);
      v128.store(t + i, bf ? bf16Lo(p) : f16Lo(p));
      v128.store(t + i, bf ? bf16Hi(p) : f16Hi(p), 64);
    }
  }
}

/** FP8 bytes sign-extended to i32 → f32: (v << shift) & mask, times the rebias constant. */
@inline function fp8(v: v128, shift: i32, mask: v128, mul: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v, shift), mask), mul);
}

/** Σ over 16 FP8 codes · x for one row block (x: 16 f32). */
@inline function dotFp8(b: v128, x: usize, shift: i32, mask: v128, mul: v128): v128 {
  const l = i16x8.extend_low_i8x16_s(b), h = i16x8.extend_high_i8x16_s(b);
  const s0 = f32x4.add(f32x4.mul(fp8(i32x4.extend_low_i16x8_s(l), shift, mask, mul), v128.load(x)), f32x4.mul(fp8(i32x4.extend_high_i16x8_s(l), shift, mask, mul), v128.load(x, 16)));
  const s1 = f32x4.add(f32x4.mul(fp8(i32x4.extend_low_i16x8_s(h), shift, mask, mul), v128.load(x, 32)), f32x4.mul(fp8(i32x4.extend_high_i16x8_s(h), shift, mask, mul), v128.load(x, 48)));
  return f32x4.add(s0, s1);
}

/** FP8 decode constants: E4M3 (e5 = false) or E5M2. */
@inline function fp8Shift(e5: bool): i32 {
  return e5 ? 21 : 20;
}
@inline function fp8Mask(e5: bool): v128 {
  return i32x4.splat(e5 ? <i32>0x8fe00000 : <i32>0x87f00000);
}
@inline function fp8Mul(e5: bool): v128 {
  return f32x4.splat(e5 ? TWO_112 : TWO_120);
}

/** T = 1 over groups g0..g1 of an FP8 G4 matrix; rs = the decode scale of each row (rowsP f32). */
export function matvecFp8(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32, rs: usize, e5: bool): void {
  const gb = <usize>colsP << 2;
  const shift = fp8Shift(e5), mask = fp8Mask(e5), mul = fp8Mul(e5);
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * gb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let o: usize = 0, c: usize = 0; o < gb; o += 64, c += 64) {
      a0 = f32x4.add(a0, dotFp8(v128.load(wg + o), x + c, shift, mask, mul));
      a1 = f32x4.add(a1, dotFp8(v128.load(wg + o, 16), x + c, shift, mask, mul));
      a2 = f32x4.add(a2, dotFp8(v128.load(wg + o, 32), x + c, shift, mask, mul));
      a3 = f32x4.add(a3, dotFp8(v128.load(wg + o, 48), x + c, shift, mask, mul));
    }
    const r = <usize>g << 4;
    v128.store(out + r, f32x4.mul(hsum4(a0, a1, a2, a3), v128.load(rs + r)));
  }
}

/** Decodes one FP8 G4 group into an f32 tile, each row times its decode scale (rs4: the group's 4 scales). */
export function tileFp8(wg: usize, tile: usize, colsP: i32, rs4: usize, e5: bool): void {
  const gb = <usize>colsP << 2;
  const shift = fp8Shift(e5), mask = fp8Mask(e5), mul = fp8Mul(e5);
  for (let o: usize = 0, t: usize = tile; o < gb; o += 64, t += 256) {
    for (let i: usize = 0; i < 64; i += 16) {
      const s = v128.load32_splat(rs4 + (i >> 2));
      const b = v128.load(wg + o + i);
      const l = i16x8.extend_low_i8x16_s(b), h = i16x8.extend_high_i8x16_s(b);
      v128.store(t + i, f32x4.mul(fp8(i32x4.extend_low_i16x8_s(l), shift, mask, mul), s));
      v128.store(t + i, f32x4.mul(fp8(i32x4.extend_high_i16x8_s(l), shift, mask, mul), s), 64);
      v128.store(t + i, f32x4.mul(fp8(i32x4.extend_low_i16x8_s(h), shift, mask, mul), s), 128);
      v128.store(t + i, f32x4.mul(fp8(i32x4.extend_high_i16x8_s(h), shift, mask, mul), s), 192);
    }
  }
}

/** Re-exported so index.ts has one import site for the float formats. */
export { gemmTile };
