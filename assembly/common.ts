/**
 * Shared pieces of the wasm kernels: the "G4" layout, lane helpers and the f32 micro-kernel every format ends in.
 *
 * G4 layout: a weight matrix is cut into groups of 4 rows (the last group zero-padded); inside a group, for each
 * column block, the 4 rows' scales come first and then the 4 rows' codes, so one sequential stream feeds the kernel
 * (the block-interleaved layout llama.cpp repacks to). A decoded f32 "tile" is the G4 layout of f32 with blocks of 4
 * columns: [r0 c..c+3][r1 c..c+3][r2 c..c+3][r3 c..c+3], 64 bytes per 4 columns.
 * Pointers are byte offsets in the (shared, imported) memory; the JS side owns every allocation.
 */

/** 2^112 and 2^120 as f32: rebias an f16 / e5m2 (bias 15) and an e4m3 (bias 7) exponent field placed inside an f32. */
export const TWO_112: f32 = reinterpret<f32>(0x77800000);
export const TWO_120: f32 = reinterpret<f32>(0x7b800000);

/** Four f32x4 vectors → [Σa, Σb, Σc, Σd]. */
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const x = f32x4.add(v128.shuffle<f32>(a, b, 0, 1, 4, 5), v128.shuffle<f32>(a, b, 2, 3, 6, 7));
  const y = f32x4.add(v128.shuffle<f32>(c, d, 0, 1, 4, 5), v128.shuffle<f32>(c, d, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<f32>(x, y, 0, 2, 4, 6), v128.shuffle<f32>(x, y, 1, 3, 5, 7));
}

/** Lane `i` of an f32x4 broadcast to all lanes (i is a compile-time constant after inlining). */
@inline export function lane(v: v128, i: i32): v128 {
  if (i == 0) return v128.shuffle<f32>(v, v, 0, 0, 0, 0);
  if (i == 1) return v128.shuffle<f32>(v, v, 1, 1, 1, 1);
  if (i == 2) return v128.shuffle<f32>(v, v, 2, 2, 2, 2);
  return v128.shuffle<f32>(v, v, 3, 3, 3, 3);
}

/** i32 lanes holding sign-extended f16 bit patterns → f32 (exact for zero, subnormal and normal halves; not Inf/NaN). */
@inline export function halfToF32(v: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v, 13), i32x4.splat(<i32>0x8fffe000)), f32x4.splat(TWO_112));
}

/** Scalar form of halfToF32 for one f16 bit pattern. */
@inline export function halfScalar(h: u32): f32 {
  const v = <i32>(<i16>h);
  return reinterpret<f32>((v << 13) & <i32>0x8fffe000) * TWO_112;
}

/** 16 signed bytes → four f32x4 (bytes 0..3, 4..7, 8..11, 12..15). Written out at the call sites via these helpers. */
@inline export function i8lo0(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(b)));
}
@inline export function i8lo1(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(b)));
}
@inline export function i8hi0(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(b)));
}
@inline export function i8hi1(b: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(b)));
}

/** Dot of 16 signed bytes with 16 f32 at x (x 16-byte blocks 0..3). */
@inline export function dot16(b: v128, x: usize): v128 {
  const s0 = f32x4.add(f32x4.mul(i8lo0(b), v128.load(x)), f32x4.mul(i8lo1(b), v128.load(x, 16)));
  const s1 = f32x4.add(f32x4.mul(i8hi0(b), v128.load(x, 32)), f32x4.mul(i8hi1(b), v128.load(x, 48)));
  return f32x4.add(s0, s1);
}

/** Stores 16 signed bytes times `s` as f32 into a tile: columns 0..3 at t, 4..7 at t+64, 8..11 at t+128, 12..15 at t+192. */
@inline export function tile16(b: v128, s: v128, t: usize): void {
  v128.store(t, f32x4.mul(i8lo0(b), s));
  v128.store(t, f32x4.mul(i8lo1(b), s), 64);
  v128.store(t, f32x4.mul(i8hi0(b), s), 128);
  v128.store(t, f32x4.mul(i8hi1(b), s), 192);
}

/**
 * out[t·os + r0 + i] = Σ_c tile[i, c] · x[t, c] for the 4 rows i of one decoded (or f32) G4 group and all T tokens.
 * Register block: 4 rows × 2 tokens, so the tile is read ⌈T/2⌉ times (it is L1/L2-resident).
 */
export function gemmTile(tile: usize, x: usize, out: usize, colsP: i32, T: i32, os: i32, r0: i32): void {
  const xs = <usize>colsP << 2;
  const n = <usize>colsP << 4;
  let t = 0;
  for (; t + 1 < T; t += 2) {
    const xa = x + <usize>t * xs;
    const xb = xa + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    for (let o: usize = 0, c: usize = 0; o < n; o += 64, c += 16) {
      const w0 = v128.load(tile + o), w1 = v128.load(tile + o, 16), w2 = v128.load(tile + o, 32), w3 = v128.load(tile + o, 48);
      const u = v128.load(xa + c);
      const v = v128.load(xb + c);
      a0 = f32x4.add(a0, f32x4.mul(w0, u));
      a1 = f32x4.add(a1, f32x4.mul(w1, u));
      a2 = f32x4.add(a2, f32x4.mul(w2, u));
      a3 = f32x4.add(a3, f32x4.mul(w3, u));
      b0 = f32x4.add(b0, f32x4.mul(w0, v));
      b1 = f32x4.add(b1, f32x4.mul(w1, v));
      b2 = f32x4.add(b2, f32x4.mul(w2, v));
      b3 = f32x4.add(b3, f32x4.mul(w3, v));
    }
    v128.store(out + ((<usize>t * os + r0) << 2), hsum4(a0, a1, a2, a3));
    v128.store(out + ((<usize>(t + 1) * os + r0) << 2), hsum4(b0, b1, b2, b3));
  }
  if (t < T) matvecF32(tile, x + <usize>t * xs, out + ((<usize>t * os + r0) << 2), colsP);
}

/** One token against one f32 G4 group: out[0..4) = the 4 row dots. */
@inline export function matvecF32(w: usize, x: usize, out: usize, colsP: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const n = <usize>colsP << 4;
  for (let o: usize = 0, c: usize = 0; o < n; o += 64, c += 16) {
    const u = v128.load(x + c);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(w + o), u));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(w + o, 16), u));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(w + o, 32), u));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(w + o, 48), u));
  }
  v128.store(out, hsum4(a0, a1, a2, a3));
}
