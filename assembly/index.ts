/**
 * Tandem's wasm SIMD kernels (AssemblyScript, 128-bit SIMD, shared imported memory). Entry points called from JS:
 *   matmul      out[t, r] = Σ_c x[t, c] · W[r, c] over row groups g0..g1 of a G4-packed weight
 *   embedRow    one decoded weight row
 *   groupBytes  bytes of one 4-row group, the layout contract with src/numerics/wasm/layout.ts
 *   ssdChunk, ssdWorkBytes, ssmStep   Mamba-2 scans (ssd.ts);  conv1dSilu   the causal conv (conv.ts)
 *   rmsNorm, siluGate, relu2, addScaled   element-wise ops (elementwise.ts)
 *   attendKvHead, decodeFp8Rows           causal GQA attention over a KV cache (attention.ts)
 * Format ids must match FORMAT_ID in src/numerics/wasm/layout.ts.
 * Built twice (package.json `build:wasm`): kernels.wasm (SIMD128) and kernels-relaxed.wasm (+ relaxed SIMD, used by
 * int8.ts's decode dots); same exports, same memory layout, bit-identical results.
 */
import { gemmTile, matvecF32 } from './common';
import { matvecF16, matvecBf16, tileHalf, matvecFp8, tileFp8 } from './floats';
import { matvecQ8_0, tileQ8_0, matvecQ4_0, tileQ4_0, matvecFp4x32, tileFp4x32, matvecFp4x64, tileFp4x64 } from './blocks';
import { matmulQ8 } from './int8';
import { matvecK4, tileK4, matvecQ6K, tileQ6K, Q4_K_BLOCK, Q5_K_BLOCK, Q6_K_BLOCK } from './kquants';
export { ssdChunk, ssdWorkBytes, ssmStep } from './ssd';
export { conv1dSilu } from './conv';
export { rmsNorm, siluGate, relu2, addScaled } from './elementwise';
export { attendKvHead, decodeFp8Rows } from './attention';

/**
 * Flag on `fmt`: the input is Q8_0-quantized: int8 codes [T, colsP] at x, f32 scales [T, colsP/32] at x + q8Scales,
 * i32 sums of the codes per 16 columns [T, colsP/16] at x + q8Sums.
 */
const Q8_INPUT = 0x100;

/** Where the Q8_0 input scales start after the codes of T tokens (16-byte aligned). */
export function q8Scales(T: i32, colsP: i32): usize {
  return ((<usize>T * <usize>colsP) + 15) & ~(<usize>15);
}

/** Where the Q8_0 input's code sums start after its scales (16-byte aligned). */
export function q8Sums(T: i32, colsP: i32): usize {
  return (q8Scales(T, colsP) + ((<usize>T * <usize>colsP) >> 3) + 15) & ~(<usize>15);
}

const F32 = 0, F16 = 1, BF16 = 2, E4M3 = 3, E5M2 = 4, Q8_0 = 5, Q4_0 = 6, FP4X32 = 7, FP4X64 = 8, Q4_K = 9, Q5_K = 10, Q6_K = 11;

export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of one G4 group (4 rows) of `colsP` columns; 0 for an unknown format. */
export function groupBytes(fmt: i32, colsP: i32): usize {
  const c = <usize>colsP;
  switch (fmt) {
    case F32: return c << 4;
    case F16:
    case BF16: return c << 3;
    case E4M3:
    case E5M2: return c << 2;
    case Q8_0: return (c >> 5) * 136;
    case Q4_0: return (c >> 5) * 72;
    case FP4X32: return (c >> 5) * 68;
    case FP4X64: return (c >> 6) * 144;
    case Q4_K: return (c >> 8) * Q4_K_BLOCK;
    case Q5_K: return (c >> 8) * Q5_K_BLOCK;
    case Q6_K: return (c >> 8) * Q6_K_BLOCK;
  }
  return 0;
}

/** Decodes group g's 4 rows to an f32 tile and returns where the tile is (f32 weights are their own tile). */
function decodeGroup(fmt: i32, w: usize, g: i32, colsP: i32, tile: usize, rs: usize, tbl: usize, gs: f32): usize {
  const wg = w + <usize>g * groupBytes(fmt, colsP);
  switch (fmt) {
    case F32: return wg;
    case F16: tileHalf(wg, tile, colsP, false); break;
    case BF16: tileHalf(wg, tile, colsP, true); break;
    case E4M3: tileFp8(wg, tile, colsP, rs + (<usize>g << 4), false); break;
    case E5M2: tileFp8(wg, tile, colsP, rs + (<usize>g << 4), true); break;
    case Q8_0: tileQ8_0(wg, tile, colsP); break;
    case Q4_0: tileQ4_0(wg, tile, colsP); break;
    case FP4X32: tileFp4x32(wg, tile, colsP, tbl); break;
    case FP4X64: tileFp4x64(wg, tile, colsP, tbl, gs); break;
    case Q4_K: tileK4(wg, tile, colsP, false); break;
    case Q5_K: tileK4(wg, tile, colsP, true); break;
    case Q6_K: tileQ6K(wg, tile, colsP); break;
    default: unreachable();
  }
  return tile;
}

/** T = 1: fused decode-and-dot over groups g0..g1; out[g·4 + i] for the group's rows. */
function matvec(fmt: i32, w: usize, x: usize, out: usize, colsP: i32, g0: i32, g1: i32, rs: usize, tbl: usize, gs: f32): void {
  switch (fmt) {
    case F32: {
      const gb = groupBytes(F32, colsP);
      for (let g = g0; g < g1; g++) matvecF32(w + <usize>g * gb, x, out + (<usize>g << 4), colsP);
      break;
    }
    case F16: matvecF16(w, x, out, colsP, g0, g1); break;
    case BF16: matvecBf16(w, x, out, colsP, g0, g1); break;
    case E4M3: matvecFp8(w, x, out, colsP, g0, g1, rs, false); break;
    case E5M2: matvecFp8(w, x, out, colsP, g0, g1, rs, true); break;
    case Q8_0: matvecQ8_0(w, x, out, colsP, g0, g1); break;
    case Q4_0: matvecQ4_0(w, x, out, colsP, g0, g1); break;
    case FP4X32: matvecFp4x32(w, x, out, colsP, g0, g1, tbl); break;
    case FP4X64: matvecFp4x64(w, x, out, colsP, g0, g1, tbl, gs); break;
    case Q4_K: matvecK4(w, x, rs, out, colsP, g0, g1, false); break;
    case Q5_K: matvecK4(w, x, rs, out, colsP, g0, g1, true); break;
    case Q6_K: matvecQ6K(w, x, out, colsP, g0, g1); break;
    default: unreachable();
  }
}

/**
 * out[t·os + r] = Σ_c x[t·colsP + c] · W[r, c] for the rows r of groups g0..g1 (x zero-padded to colsP columns).
 * With the Q8_INPUT flag (Q8_0, Q4_0, FP4 formats) the input is int8 and the dots are integer (int8.ts).
 * Otherwise T = 1 runs the fused kernels; T > 1 decodes each group once into `tile` (16·colsP bytes, this thread's own) and
 * runs the 4-row × 2-token f32 kernel over it. rs: per-row decode scales (FP8), or the input's sums per 32 columns
 * [T, colsP/32] (Q4_K, Q5_K); tbl: scale-byte table (FP4); gs: tensor scale (FP4X64).
 */
export function matmul(fmt: i32, w: usize, x: usize, out: usize, colsP: i32, T: i32, g0: i32, g1: i32, os: i32, tile: usize, rs: usize, tbl: usize, gs: f32): void {
  if (fmt & Q8_INPUT) {
    matmulQ8(fmt & 0xff, w, x, x + q8Scales(T, colsP), x + q8Sums(T, colsP), out, colsP, T, g0, g1, os, tbl, gs);
    return;
  }
  if (T == 1) {
    matvec(fmt, w, x, out, colsP, g0, g1, rs, tbl, gs);
    return;
  }
  for (let g = g0; g < g1; g++) gemmTile(decodeGroup(fmt, w, g, colsP, tile, rs, tbl, gs), x, out, colsP, T, os, g << 2);
}

/** out[0..colsP) = row `row` of the weight, decoded to f32 (through `tile`). */
export function embedRow(fmt: i32, w: usize, colsP: i32, row: i32, tile: usize, out: usize, rs: usize, tbl: usize, gs: f32): void {
  const t = decodeGroup(fmt, w, row >> 2, colsP, tile, rs, tbl, gs) + (<usize>(row & 3) << 4);
  const n = <usize>colsP << 2;
  for (let c: usize = 0; c < n; c += 16) v128.store(out + c, v128.load(t + (c << 2)));
}
