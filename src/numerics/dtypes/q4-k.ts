/**
 * ggml Q4_K: 4-bit super-block quantization with 6-bit sub-block scales and mins (GGML_TYPE_Q4_K = 12).
 *
 * Super-block of QK_K = 256 elements = 144 bytes (`block_q4_K`, ggml-common.h), blocks back to back:
 *   bytes 0..1     d       super-scale for the sub-block scales, f16 little-endian
 *   bytes 2..3     dmin    super-scale for the sub-block mins, f16 little-endian
 *   bytes 4..15    scales  8 six-bit scales sc[0..7] and 8 six-bit mins m[0..7], one pair per 32-element
 *                          sub-block, packed as ggml's `get_scale_min_k4` reads them (s = the 12 bytes):
 *                            j < 4:  sc[j] = s[j] & 63                          m[j] = s[j+4] & 63
 *                            j ≥ 4:  sc[j] = (s[j+4] & 15) | (s[j-4] >> 6) << 4  m[j] = (s[j+4] >> 4) | (s[j] >> 6) << 4
 *   bytes 16..143  qs      128 bytes of nibbles, 32 bytes per 64-element chunk c (sub-blocks 2c and 2c+1):
 *                          byte 32c + l holds element 64c + l in its low nibble and 64c + 32 + l in its high one
 * Dequant (`dequantize_row_q4_K`), f32: x = (f16(d)·sc) · q − (f16(dmin)·m), q ∈ 0..15.
 *
 * Quantization is ggml's `quantize_row_q4_K_ref` (ggml/src/ggml-quants.c of the llama.cpp release that
 * node-llama-cpp ships), every f32 operation rounded with Math.fround so the bytes match bit for bit:
 *   per sub-block: weights w = sqrt(Σx²/32) + |x|; (scale, min) = make_qkx2_quants(nmax 15, rmin −1,
 *     rdelta 0.1, nstep 20): a weighted least-squares fit of x ≈ scale·L − min over 21 candidate grids;
 *   d = f16(max scale / 63), dmin = f16(max min / 63); sc, m = min(63, nearest_int(63 · value / max));
 *   final codes L = clamp(nearest_int((x + f16(dmin)·m) / (f16(d)·sc)), 0, 15), skipped (keeping the
 *     make_qkx2_quants codes) where f16(d)·sc = 0.
 * The helpers below (nearest_int, make_qkx2_quants, scale packing, the whole scale/min search, and the block loops
 * `quantizeK4` / `dequantizeK4`) are shared with Q5_K (q5-k.ts), which differs only in nmax 31, rmin −0.5, nstep 15
 * and the 5th-bit plane (`K4Format`).
 */
import { TandemError } from '../../errors.js';
import { f16ToF32, f32ToF16 } from './f16.js';

/** Elements per K-quant super-block (ggml's QK_K). */
export const QK_K = 256;
export const Q4_K_BLOCK_BYTES = 144;

const fround = Math.fround;
const F0_1 = fround(0.1);

/** Validates a K-quant element count; returns the number of super-blocks. */
export function checkCountK(fn: string, type: string, count: number): number {
  if (!Number.isInteger(count) || count < 0 || count % QK_K !== 0) {
    throw new TandemError('BAD_ARGUMENT', `${fn}: ${type} needs a multiple of ${QK_K} elements, got ${count}`);
  }
  return count / QK_K;
}

/** Validates source and destination sizes of a K-quant dequantization. */
export function checkDequantK(fn: string, blockBytes: number, nBlocks: number, src: Uint8Array, out: Float32Array, outOffset: number): void {
  const count = nBlocks * QK_K;
  if (src.length < nBlocks * blockBytes || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `${fn}: ${count} elements need ${nBlocks * blockBytes} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
}

const niF32 = new Float32Array(1);
const niI32 = new Int32Array(niF32.buffer);

/**
 * ggml's `nearest_int`: adds 1.5·2^23 in f32 and reads the low mantissa bits, i.e. rounds half to even for
 * |f| ≤ 4194303 (`f` must already be an f32 value). Outside that range (ggml only asserts it in debug
 * builds) the same bit trick is replayed so even garbage matches.
 */
export function nearestInt(f: number): number {
  const v = fround(f + 12582912);
  if (v >= 8388608 && v < 16777216) return v - 12582912;
  niF32[0] = v;
  return (niI32[0]! & 0x007fffff) - 0x00400000;
}

/** Second result of `makeQkx2Quants` (ggml's `*the_min`), to avoid allocating a pair per sub-block. */
export const qkx2 = { theMin: 0 };

/**
 * ggml's `make_qkx2_quants` with use_mad = false: fits x[x0 .. x0+n) ≈ scale·L − theMin, L ∈ 0..nmax, by
 * weighted least squares over the grids iscale = (rmin + rdelta·is + nmax) / (max − min), is = 0..nstep,
 * keeping the one with the least weighted squared error. As in ggml, once a grid wins, `min` becomes its
 * fitted min (≤ 0), which then also shifts the later grids (both x − min and max − min). Writes L[l0 ..], returns scale, sets qkx2.theMin.
 */
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, x0: number, weights: Float32Array,
  L: Uint8Array, l0: number, laux: Uint8Array, rmin: number, rdelta: number, nstep: number,
): number {
  let min = x[x0]!;
  let max = x[x0]!;
  let sumW = weights[0]!;
  let sumX = fround(sumW * x[x0]!);
  for (let i = 1; i < n; i++) {
    const xi = x[x0 + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, l0, l0 + n);
    qkx2.theMin = -min;
    return 0;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[x0 + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(fround(iscale * fround(xi - min)))));
    L[l0 + i] = l;
    const diff = fround(fround(fround(scale * l) + min) - xi);
    bestError = fround(bestError + fround(weights[i]! * fround(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    // `min` is the best fit's so far, not the data minimum, once a grid has won: ggml's quirk, kept.
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[x0 + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fround(iscale * fround(xi - min)))));
      laux[i] = l;
      const wl = fround(weights[i]! * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * xi));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
    let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = fround(sumXL / sumL2);
    }
    let curError = 0;
    for (let i = 0; i < n; i++) {
      const diff = fround(fround(fround(thisScale * laux[i]!) + thisMin) - x[x0 + i]!);
      curError = fround(curError + fround(weights[i]! * fround(diff * diff)));
    }
    if (curError < bestError) {
      for (let i = 0; i < n; i++) L[l0 + i] = laux[i]!;
      bestError = curError;
      scale = thisScale;
      min = thisMin;
    }
  }
  qkx2.theMin = -min;
  return scale;
}

/** ggml's `get_scale_min_k4`: sub-block j's 6-bit scale and min from the 12 packed bytes at `s[o ..]`. */
export function getScaleMinK4(j: number, s: Uint8Array, o: number): [sc: number, m: number] {
  if (j < 4) return [s[o + j]! & 63, s[o + j + 4]! & 63];
  const sc = (s[o + j + 4]! & 0xf) | ((s[o + j - 4]! >>> 6) << 4);
  const m = (s[o + j + 4]! >>> 4) | ((s[o + j]! >>> 6) << 4);
  return [sc, m];
}

/** Packs eight 6-bit (scale, min) pairs into 12 bytes at `s[o ..]`, the inverse of `getScaleMinK4`. */
function packScaleMinK4(ls: Uint8Array, lm: Uint8Array, s: Uint8Array, o: number): void {
  for (let j = 0; j < 4; j++) {
    s[o + j] = ls[j]!;
    s[o + j + 4] = lm[j]!;
  }
  for (let j = 4; j < 8; j++) {
    s[o + j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
    s[o + j - 4]! |= (ls[j]! >>> 4) << 6;
    s[o + j]! |= (lm[j]! >>> 4) << 6;
  }
}

const weights = new Float32Array(32);
const laux = new Uint8Array(32);
const scales = new Float32Array(8);
const mins = new Float32Array(8);
const ls = new Uint8Array(8);
const lm = new Uint8Array(8);

/**
 * The part of `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` before bit packing, for the super-block at
 * x[x0 .. x0+256): writes d, dmin and the 12 scale bytes to out[o .. o+16) and the codes (0..nmax) to L.
 */
export function quantizeScalesMinsK(
  x: Float32Array, x0: number, nmax: number, rmin: number, nstep: number, L: Uint8Array, out: Uint8Array, o: number,
): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const s0 = x0 + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fround(sumX2 + fround(x[s0 + l]! * x[s0 + l]!));
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fround(avX + Math.abs(x[s0 + l]!));
    scales[j] = makeQkx2Quants(32, nmax, x, s0, weights, L, 32 * j, laux, rmin, F0_1, nstep);
    mins[j] = qkx2.theMin;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(fround(invScale * scales[j]!)) & 0xff); // C: uint8_t, then MIN(63, ·)
    lm[j] = Math.min(63, nearestInt(fround(invMin * mins[j]!)) & 0xff);
  }
  packScaleMinK4(ls, lm, out, o + 4);
  const dBits = f32ToF16(fround(maxScale / 63));
  const dminBits = f32ToF16(fround(maxMin / 63));
  out[o] = dBits & 0xff;
  out[o + 1] = dBits >>> 8;
  out[o + 2] = dminBits & 0xff;
  out[o + 3] = dminBits >>> 8;
  const d16 = f16ToF32(dBits);
  const dmin16 = f16ToF32(dminBits);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = getScaleMinK4(j, out, o + 4);
    const d = fround(d16 * sc);
    if (d === 0) continue;
    const dm = fround(dmin16 * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(x[x0 + 32 * j + ii]! + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

/**
 * Byte layout and `make_qkx2_quants` parameters of a Q4_K-family super-block (Q4_K, Q5_K): d and dmin at bytes 0..3,
 * the packed scales and mins at 4..15, the low nibbles at `qsAt` (byte 32c + l: element 64c + l low, 64c + 32 + l
 * high) and, for Q5_K, the 5th-bit plane at `qhAt` (byte l, bits 2c and 2c + 1 for the same two elements).
 */
export interface K4Format {
  readonly type: string;
  readonly blockBytes: number;
  readonly qsAt: number;
  readonly qhAt: number | null;
  readonly nmax: number;
  readonly rmin: number;
  readonly nstep: number;
}

const Q4_K: K4Format = { type: 'Q4_K', blockBytes: Q4_K_BLOCK_BYTES, qsAt: 16, qhAt: null, nmax: 15, rmin: -1, nstep: 20 };

/** Quantizes `src` (length a multiple of 256) to `f` blocks, bit-identical to ggml's `quantize_row_q4_K_ref` / `_q5_K_ref`. */
export function quantizeK4(f: K4Format, src: Float32Array): Uint8Array {
  const nBlocks = checkCountK(`quantize${f.type}`, f.type, src.length);
  const out = new Uint8Array(nBlocks * f.blockBytes);
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * f.blockBytes;
    quantizeScalesMinsK(src, b * QK_K, f.nmax, f.rmin, f.nstep, L, out, o);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const l1 = L[64 * c + l]!;
        const l2 = L[64 * c + 32 + l]!;
        if (f.qhAt !== null) out[o + f.qhAt + l]! |= ((l1 >>> 4) << (2 * c)) | ((l2 >>> 4) << (2 * c + 1));
        out[o + f.qsAt + 32 * c + l] = (l1 & 0xf) | ((l2 & 0xf) << 4);
      }
    }
  }
  return out;
}

/** Dequantizes `count` elements (a multiple of 256) of `f` blocks into `out[outOffset ..]`, as ggml's `dequantize_row_q4_K` / `_q5_K`. */
export function dequantizeK4(f: K4Format, src: Uint8Array, count: number, out: Float32Array, outOffset: number): void {
  const nBlocks = checkCountK(`dequantize${f.type}`, f.type, count);
  checkDequantK(`dequantize${f.type}`, f.blockBytes, nBlocks, src, out, outOffset);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * f.blockBytes;
    const d = f16ToF32(src[o]! | (src[o + 1]! << 8));
    const dmin = f16ToF32(src[o + 2]! | (src[o + 3]! << 8));
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = getScaleMinK4(2 * c, src, o + 4);
      const [sc2, m2] = getScaleMinK4(2 * c + 1, src, o + 4);
      const d1 = fround(d * sc1);
      const min1 = fround(dmin * m1);
      const d2 = fround(d * sc2);
      const min2 = fround(dmin * m2);
      const q0 = o + f.qsAt + 32 * c;
      const y0 = outOffset + b * QK_K + 64 * c;
      for (let l = 0; l < 32; l++) {
        const q = src[q0 + l]!;
        const h = f.qhAt === null ? 0 : src[o + f.qhAt + l]! >>> (2 * c); // Q4_K: no 5th bits
        out[y0 + l] = fround(d1 * ((q & 0xf) + ((h & 1) << 4))) - min1;
        out[y0 + 32 + l] = fround(d2 * ((q >>> 4) + ((h & 2) << 3))) - min2;
      }
    }
  }
}

/** Quantizes `src` (length a multiple of 256) to Q4_K blocks, bit-identical to `quantize_row_q4_K_ref`. */
export function quantizeQ4_K(src: Float32Array): Uint8Array {
  return quantizeK4(Q4_K, src);
}

/** Dequantizes `count` elements (a multiple of 256) of Q4_K blocks into `out[outOffset ..]`. */
export function dequantizeQ4_K(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  dequantizeK4(Q4_K, src, count, out, outOffset);
}
