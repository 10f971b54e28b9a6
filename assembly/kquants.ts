/**
 * ggml K-quants in G4 layout (see common.ts), 256 columns per block. The packed 6-bit scales are unpacked at load
 * (one byte each), so a block is its rows' super-scales, then their sub-block scales, then their codes:
 *   Q4_K  592 bytes: 4 × f16 d, 4 × f16 dmin, 4 × 8 scale bytes, 4 × 8 min bytes, 4 × 128 bytes of nibbles (ggml
 *         order: byte 32c + l holds column 64c + l low and 64c + 32 + l high)
 *   Q5_K  720 bytes: as Q4_K, each row's 128 nibble bytes followed by its 32 bytes of 5th bits (bit 2c of byte l:
 *         column 64c + l, bit 2c + 1: column 64c + 32 + l)
 *   Q6_K  840 bytes: 4 × f16 d, 4 × 16 int8 scales, then per row 128 bytes ql + 64 bytes qh (ggml order)
 * x = (d·sc)·q − dmin·m (Q4_K, Q5_K) or (d·sc)·(q − 32) (Q6_K), with d·sc and dmin·m rounded to f32 as ggml does.
 * The fused T = 1 kernel of Q4_K / Q5_K uses Σ_c (d·sc·q − dmin·m)·x_c = d·sc·Σ q·x − dmin·m·Σ x, with the input
 * sums per 32 columns precomputed by the JS side (`xs`).
 */
import { hsum4, lane, halfToF32, i8lo0, i8lo1, i8hi0, i8hi1, dot16 } from './common';

export const Q4_K_BLOCK: usize = 592;
export const Q5_K_BLOCK: usize = 720;
export const Q6_K_BLOCK: usize = 840;

/** Codes (0..31) of the 16 columns 64c + 16j + 0..15 (hi: + 32) of a K4 row: q = row's nibble bytes, h = its 5th bits. */
@inline function k4codes(q: usize, h: usize, c: i32, j: usize, hi: bool, q5: bool): v128 {
  const n = v128.load(q + (<usize>c << 5) + (j << 4));
  let v = hi ? i8x16.shr_u(n, 4) : v128.and(n, i8x16.splat(0x0f));
  if (q5) {
    const bit = i8x16.shr_u(v128.load(h + (j << 4)), <i32>((c << 1) + (hi ? 1 : 0)));
    v = v128.or(v, i8x16.shl(v128.and(bit, i8x16.splat(1)), 4));
  }
  return v;
}

/** One K4 row, one super-block: Σ over 256 columns of (d·sc)·q·x, and the row's Σ dmin·m·xsum in *min. */
@inline function rowK4(q: usize, h: usize, x: usize, d: f32, sc: usize, q5: bool): v128 {
  let acc = f32x4.splat(0);
  for (let c = 0; c < 4; c++) {
    const xc = x + (<usize>c << 8);
    const lo = f32x4.add(dot16(k4codes(q, h, c, 0, false, q5), xc), dot16(k4codes(q, h, c, 1, false, q5), xc + 64));
    const hi = f32x4.add(dot16(k4codes(q, h, c, 0, true, q5), xc + 128), dot16(k4codes(q, h, c, 1, true, q5), xc + 192));
    acc = f32x4.add(acc, f32x4.mul(lo, f32x4.splat(d * <f32>load<u8>(sc + (<usize>c << 1)))));
    acc = f32x4.add(acc, f32x4.mul(hi, f32x4.splat(d * <f32>load<u8>(sc + (<usize>c << 1) + 1))));
  }
  return acc;
}

/** Σ_s fround(dmin·m_s) · xs[s] over a row's 8 sub-blocks. */
@inline function minK4(dmin: f32, m: usize, xs: usize): f32 {
  let s: f32 = 0;
  for (let j: usize = 0; j < 8; j++) s += (dmin * <f32>load<u8>(m + j)) * load<f32>(xs + (j << 2));
  return s;
}

export function matvecK4(w: usize, x: usize, xs: usize, out: usize, colsP: i32, g0: i32, g1: i32, q5: bool): void {
  const nb = <usize>(colsP >> 8);
  const bb = q5 ? Q5_K_BLOCK : Q4_K_BLOCK;
  const rb: usize = q5 ? 160 : 128;
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * nb * bb;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let m = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * bb, xb = x + (b << 10), xsb = xs + (b << 5);
      const d = halfToF32(v128.load16x4_s(p)), dm = halfToF32(v128.load16x4_s(p, 8));
      const q = p + 80;
      a0 = f32x4.add(a0, rowK4(q, q + 128, xb, f32x4.extract_lane(d, 0), p + 16, q5));
      a1 = f32x4.add(a1, rowK4(q + rb, q + rb + 128, xb, f32x4.extract_lane(d, 1), p + 24, q5));
      a2 = f32x4.add(a2, rowK4(q + 2 * rb, q + 2 * rb + 128, xb, f32x4.extract_lane(d, 2), p + 32, q5));
      a3 = f32x4.add(a3, rowK4(q + 3 * rb, q + 3 * rb + 128, xb, f32x4.extract_lane(d, 3), p + 40, q5));
      let mb = f32x4.splat(minK4(f32x4.extract_lane(dm, 0), p + 48, xsb));
      mb = f32x4.replace_lane(mb, 1, minK4(f32x4.extract_lane(dm, 1), p + 56, xsb));
      mb = f32x4.replace_lane(mb, 2, minK4(f32x4.extract_lane(dm, 2), p + 64, xsb));
      mb = f32x4.replace_lane(mb, 3, minK4(f32x4.extract_lane(dm, 3), p + 72, xsb));
      m = f32x4.add(m, mb);
    }
    v128.store(out + (<usize>g << 4), f32x4.sub(hsum4(a0, a1, a2, a3), m));
  }
}

/** Stores 16 codes (u8 lanes ≤ 63 or i8) as d1·q − m1 into tile columns 0..3 at t, 4..7 at t + 64, … */
@inline function tileCodes(v: v128, d1: v128, m1: v128, t: usize): void {
  v128.store(t, f32x4.sub(f32x4.mul(i8lo0(v), d1), m1));
  v128.store(t, f32x4.sub(f32x4.mul(i8lo1(v), d1), m1), 64);
  v128.store(t, f32x4.sub(f32x4.mul(i8hi0(v), d1), m1), 128);
  v128.store(t, f32x4.sub(f32x4.mul(i8hi1(v), d1), m1), 192);
}

export function tileK4(wg: usize, tile: usize, colsP: i32, q5: bool): void {
  const nb = <usize>(colsP >> 8);
  const bb = q5 ? Q5_K_BLOCK : Q4_K_BLOCK;
  const rb: usize = q5 ? 160 : 128;
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * bb, t0 = tile + (b << 12);
    for (let i: usize = 0; i < 4; i++) {
      const d = halfScalarAt(p + (i << 1)), dmin = halfScalarAt(p + 8 + (i << 1));
      const q = p + 80 + i * rb, h = q + 128;
      for (let c = 0; c < 4; c++) {
        const d1 = f32x4.splat(d * <f32>load<u8>(p + 16 + (i << 3) + (<usize>c << 1)));
        const m1 = f32x4.splat(dmin * <f32>load<u8>(p + 48 + (i << 3) + (<usize>c << 1)));
        const d2 = f32x4.splat(d * <f32>load<u8>(p + 17 + (i << 3) + (<usize>c << 1)));
        const m2 = f32x4.splat(dmin * <f32>load<u8>(p + 49 + (i << 3) + (<usize>c << 1)));
        const t = t0 + (<usize>c << 10) + (i << 4); // 64 columns per c = 16 chunks of 4 = 1024 bytes
        tileCodes(k4codes(q, h, c, 0, false, q5), d1, m1, t);
        tileCodes(k4codes(q, h, c, 1, false, q5), d1, m1, t + 256);
        tileCodes(k4codes(q, h, c, 0, true, q5), d2, m2, t + 512);
        tileCodes(k4codes(q, h, c, 1, true, q5), d2, m2, t + 768);
      }
    }
  }
}

@inline function halfScalarAt(p: usize): f32 {
  return f32x4.extract_lane(halfToF32(v128.load16x4_s(p)), 0);
}

/** Q6_K codes − 32 (i8) of columns 128h + 32k + 16j + 0..15 of one row (ql, qh: the row's 128 + 64 bytes). */
@inline function q6codes(ql: usize, qh: usize, h: usize, k: i32, j: usize): v128 {
  const L = v128.load(ql + (h << 6) + ((<usize>(k & 1)) << 5) + (j << 4));
  const lo = k < 2 ? v128.and(L, i8x16.splat(0x0f)) : i8x16.shr_u(L, 4);
  const H = i8x16.shl(v128.and(i8x16.shr_u(v128.load(qh + (h << 5) + (j << 4)), <i32>(k << 1)), i8x16.splat(3)), 4);
  return i8x16.sub(v128.or(lo, H), i8x16.splat(32));
}

export function matvecQ6K(w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32): void {
  const nb = <usize>(colsP >> 8);
  for (let g = g0; g < g1; g++) {
    const wg = w + <usize>g * nb * Q6_K_BLOCK;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b: usize = 0; b < nb; b++) {
      const p = wg + b * Q6_K_BLOCK, xb = x + (b << 10);
      const d = halfToF32(v128.load16x4_s(p));
      a0 = f32x4.add(a0, rowQ6K(p + 72, p + 8, xb, lane(d, 0)));
      a1 = f32x4.add(a1, rowQ6K(p + 264, p + 24, xb, lane(d, 1)));
      a2 = f32x4.add(a2, rowQ6K(p + 456, p + 40, xb, lane(d, 2)));
      a3 = f32x4.add(a3, rowQ6K(p + 648, p + 56, xb, lane(d, 3)));
    }
    v128.store(out + (<usize>g << 4), hsum4(a0, a1, a2, a3));
  }
}

/** Q6_K codes − 32 from preloaded ql (L) and qh (H) vectors for plane k (compile-time constant after inlining). */
@inline function q6v(L: v128, H: v128, k: i32): v128 {
  const lo = k < 2 ? v128.and(L, i8x16.splat(0x0f)) : i8x16.shr_u(L, 4);
  const hb = i8x16.shl(v128.and(i8x16.shr_u(H, k << 1), i8x16.splat(3)), 4);
  return i8x16.sub(v128.or(lo, hb), i8x16.splat(32));
}

/** The 16 int8 scales of a row as f32 × d: sub-blocks 0..3, 4..7, 8..11, 12..15. */
@inline function q6scale(sc: usize, d: v128, part: i32): v128 {
  const v = v128.load(sc);
  const h = part < 2 ? i16x8.extend_low_i8x16_s(v) : i16x8.extend_high_i8x16_s(v);
  const w = (part & 1) == 0 ? i32x4.extend_low_i16x8_s(h) : i32x4.extend_high_i16x8_s(h);
  return f32x4.mul(f32x4.convert_i32x4_s(w), d);
}

/** Σ over one 16-column piece: codes · x, times the splatted scale. */
@inline function q6dot(c: v128, x: usize, s: v128): v128 {
  return f32x4.mul(dot16(c, x), s);
}

/** One Q6_K row, one super-block (codes at q: ql then qh; 16 int8 scales at sc; d splatted). */
@inline function rowQ6K(q: usize, sc: usize, x: usize, d: v128): v128 {
  const s0 = q6scale(sc, d, 0), s1 = q6scale(sc, d, 1), s2 = q6scale(sc, d, 2), s3 = q6scale(sc, d, 3);
  let acc = f32x4.splat(0);
  // half 0: columns 0..127, sub-blocks 0..7 (scales s0, s1); half 1: columns 128..255 (s2, s3)
  for (let h: usize = 0; h < 2; h++) {
    const L00 = v128.load(q + (h << 6)), L01 = v128.load(q + (h << 6), 16), L10 = v128.load(q + (h << 6), 32), L11 = v128.load(q + (h << 6), 48);
    const H0 = v128.load(q + 128 + (h << 5)), H1 = v128.load(q + 128 + (h << 5), 16);
    const xa = x + (h << 9);
    const sa = h == 0 ? s0 : s2, sb = h == 0 ? s1 : s3;
    acc = f32x4.add(acc, f32x4.add(q6dot(q6v(L00, H0, 0), xa, lane(sa, 0)), q6dot(q6v(L01, H1, 0), xa + 64, lane(sa, 1))));
    acc = f32x4.add(acc, f32x4.add(q6dot(q6v(L10, H0, 1), xa + 128, lane(sa, 2)), q6dot(q6v(L11, H1, 1), xa + 192, lane(sa, 3))));
    acc = f32x4.add(acc, f32x4.add(q6dot(q6v(L00, H0, 2), xa + 256, lane(sb, 0)), q6dot(q6v(L01, H1, 2), xa + 320, lane(sb, 1))));
    acc = f32x4.add(acc, f32x4.add(q6dot(q6v(L10, H0, 3), xa + 384, lane(sb, 2)), q6dot(q6v(L11, H1, 3), xa + 448, lane(sb, 3))));
  }
  return acc;
}

export function tileQ6K(wg: usize, tile: usize, colsP: i32): void {
  const nb = <usize>(colsP >> 8);
  const zero = f32x4.splat(0);
  for (let b: usize = 0; b < nb; b++) {
    const p = wg + b * Q6_K_BLOCK, t0 = tile + (b << 12);
    for (let i: usize = 0; i < 4; i++) {
      const d = halfScalarAt(p + (i << 1));
      const q = p + 72 + i * 192, sc = p + 8 + (i << 4);
      for (let h: usize = 0; h < 2; h++) {
        for (let k = 0; k < 4; k++) {
          for (let j: usize = 0; j < 2; j++) {
            const col = (h << 7) + (<usize>k << 5) + (j << 4);
            const s = f32x4.splat(d * <f32>load<i8>(sc + (col >> 4)));
            tileCodes(q6codes(q, q + 128, h, k, j), s, zero, t0 + (col << 4) + (i << 4));
          }
        }
      }
    }
  }
}

