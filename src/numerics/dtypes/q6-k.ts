/**
 * ggml Q6_K: 6-bit symmetric super-block quantization with 8-bit sub-block scales (GGML_TYPE_Q6_K = 14).
 *
 * Super-block of QK_K = 256 elements = 210 bytes (`block_q6_K`, ggml-common.h), blocks back to back.
 * Two 128-element halves h = 0, 1; within a half, element 128h + 32k + l (k = 0..3, l = 0..31) has its
 * 6-bit code q split into a low nibble and 2 high bits:
 *   bytes 0..127    ql      low 4 bits, 64 bytes per half: byte 64h + l holds k=0 (low nibble) and k=2
 *                           (high nibble); byte 64h + 32 + l holds k=1 (low) and k=3 (high)
 *   bytes 128..191  qh      high 2 bits, 32 bytes per half: byte 128 + 32h + l holds k's bits at bit 2k
 *   bytes 192..207  scales  16 int8 scales, one per 16-element sub-block (element e uses scales[e >> 4])
 *   bytes 208..209  d       super-scale, f16 little-endian
 * Dequant (`dequantize_row_q6_K`), f32: x = (f16(d)·scale) · (q − 32), q ∈ 0..63.
 *
 * Quantization is ggml's `quantize_row_q6_K_ref` (ggml/src/ggml-quants.c), f32 arithmetic via Math.fround,
 * bit for bit: per 16-element sub-block, scale = make_qx_quants(nmax 32, rmse_type 1), a weighted (w = x²)
 * least-squares scale tried over 19 grids; the scale of largest |scale| s sets d = f16(1 / iscale) with
 * iscale = −128 / s, and scales[ib] = min(127, nearest_int(iscale · scale)); final codes
 * clamp(nearest_int(x / (f16(d)·scale)), −32, 31) + 32, kept from make_qx_quants where f16(d)·scale = 0.
 * A super-block whose largest |scale| is below GROUP_MAX_EPS = 1e-15 becomes all zero bytes.
 */
import { f16ToF32, f32ToF16 } from './f16.js';
import { checkCountK, checkDequantK, nearestInt, QK_K } from './q4-k.js';

export const Q6_K_BLOCK_BYTES = 210;

const fround = Math.fround;
const F0_1 = fround(0.1);
const GROUP_MAX_EPS = fround(1e-15);

/** `sumlx`, `suml2` of one make_qx_quants grid iscale (rmse_type 1: w = x²); codes go to L when `L` is given. */
function qxGrid(n: number, nmax: number, x: Float32Array, x0: number, iscale: number, sums: Float32Array, L?: Int8Array, l0 = 0): void {
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[x0 + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fround(iscale * xi))));
    if (L) L[l0 + i] = l + nmax;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  sums[0] = sumlx;
  sums[1] = suml2;
}

const sums = new Float32Array(2);

/**
 * ggml's `make_qx_quants` with rmse_type = 1 and no importance weights (the only use in Q6_K): codes
 * L[l0 + i] = l + nmax for x ≈ scale·l, l ∈ −nmax .. nmax−1; returns scale (0 for an all-zero group).
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, x0: number, L: Int8Array, l0: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[x0 + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[x0 + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, l0, l0 + n);
    return 0;
  }
  qxGrid(n, nmax, x, x0, fround(-nmax / max), sums, L, l0);
  let scale = sums[1]! !== 0 ? fround(sums[0]! / sums[1]!) : 0;
  let best = fround(scale * sums[0]!);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const iscale = fround(-fround(nmax + fround(F0_1 * is)) / max);
    qxGrid(n, nmax, x, x0, iscale, sums);
    const [sumlx, suml2] = [sums[0]!, sums[1]!];
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      qxGrid(n, nmax, x, x0, iscale, sums, L, l0);
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

const subScales = new Float32Array(16);

/** `quantize_row_q6_K_ref` for the super-block at x[x0 .. x0+256) into out[o .. o+210) (zeroed beforehand). */
function quantizeBlockQ6K(x: Float32Array, x0: number, L: Int8Array, out: Uint8Array, o: number): void {
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants(16, 32, x, x0 + 16 * ib, L, 16 * ib);
    subScales[ib] = scale;
    if (Math.abs(scale) > maxAbsScale) {
      maxAbsScale = Math.abs(scale);
      maxScale = scale;
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) return; // all 210 bytes zero, d = f16(0)
  const iscale = fround(-128 / maxScale);
  const dBits = f32ToF16(fround(1 / iscale));
  out[o + 208] = dBits & 0xff;
  out[o + 209] = dBits >>> 8;
  const d16 = f16ToF32(dBits);
  for (let ib = 0; ib < 16; ib++) {
    const sc = (Math.min(127, nearestInt(fround(iscale * subScales[ib]!))) << 24) >> 24; // stored as int8_t
    out[o + 192 + ib] = sc & 0xff;
    const d = fround(d16 * sc);
    if (d === 0) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(fround(x[x0 + 16 * ib + ii]! / d));
      L[16 * ib + ii] = Math.max(-32, Math.min(31, l)) + 32;
    }
  }
  for (let h = 0; h < 2; h++) {
    for (let l = 0; l < 32; l++) {
      const e = 128 * h + l;
      const [q1, q2, q3, q4] = [L[e]!, L[e + 32]!, L[e + 64]!, L[e + 96]!];
      out[o + 64 * h + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      out[o + 64 * h + 32 + l] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      out[o + 128 + 32 * h + l] = ((q1 >> 4) & 3) | (((q2 >> 4) & 3) << 2) | (((q3 >> 4) & 3) << 4) | (((q4 >> 4) & 3) << 6);
    }
  }
}

/** Quantizes `src` (length a multiple of 256) to Q6_K blocks, bit-identical to `quantize_row_q6_K_ref`. */
export function quantizeQ6_K(src: Float32Array): Uint8Array {
  const nBlocks = checkCountK('quantizeQ6_K', 'Q6_K', src.length);
  const out = new Uint8Array(nBlocks * Q6_K_BLOCK_BYTES);
  const L = new Int8Array(QK_K);
  for (let b = 0; b < nBlocks; b++) quantizeBlockQ6K(src, b * QK_K, L, out, b * Q6_K_BLOCK_BYTES);
  return out;
}

/** Dequantizes `count` elements (a multiple of 256) of Q6_K blocks into `out[outOffset ..]`. */
export function dequantizeQ6_K(src: Uint8Array, count: number, out: Float32Array, outOffset = 0): void {
  const nBlocks = checkCountK('dequantizeQ6_K', 'Q6_K', count);
  checkDequantK('dequantizeQ6_K', Q6_K_BLOCK_BYTES, nBlocks, src, out, outOffset);
  const ds = new Float32Array(16);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * Q6_K_BLOCK_BYTES;
    const d = f16ToF32(src[o + 208]! | (src[o + 209]! << 8));
    for (let ib = 0; ib < 16; ib++) ds[ib] = fround(d * ((src[o + 192 + ib]! << 24) >> 24));
    for (let h = 0; h < 2; h++) {
      const y0 = outOffset + b * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const lo0 = src[o + 64 * h + l]!; // k = 0 (low nibble), k = 2 (high)
        const lo1 = src[o + 64 * h + 32 + l]!; // k = 1 (low nibble), k = 3 (high)
        const qh = src[o + 128 + 32 * h + l]!;
        const is = 8 * h + (l >> 4); // sub-block of element 128h + l; k adds 2 sub-blocks per 32 elements
        out[y0 + l] = ds[is]! * (((lo0 & 0xf) | ((qh & 3) << 4)) - 32);
        out[y0 + 32 + l] = ds[is + 2]! * (((lo1 & 0xf) | (((qh >> 2) & 3) << 4)) - 32);
        out[y0 + 64 + l] = ds[is + 4]! * (((lo0 >> 4) | (((qh >> 4) & 3) << 4)) - 32);
        out[y0 + 96 + l] = ds[is + 6]! * (((lo1 >> 4) | (((qh >> 6) & 3) << 4)) - 32);
      }
    }
  }
}
