/**
 * Shared test helpers for the block codecs in src/numerics/dtypes: assertion predicates, byte formatting, the seeded
 * probe data that the frozen ggml hashes were computed on, and the round-trip loops the codec tests have in common.
 * Every generator here draws from `mulberry32` in a fixed order: changing a seed, a loop bound or the order of the
 * `r()` calls changes the data, and with it the SHA-256 constants in the tests.
 */
import { createHash } from 'node:crypto';
import { TandemError } from '../errors.js';
import { mulberry32 } from '../numerics/random.js';

/** `assert.throws` predicate: a TandemError with code BAD_ARGUMENT. */
export const isBadArgument = (e: unknown): boolean => e instanceof TandemError && e.code === 'BAD_ARGUMENT';

/** Bytes as upper-case hex pairs separated by spaces: `7F 17 9D`. */
export const hex = (a: Uint8Array): string => [...a].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(' ');

/** 4-bit codes (one per byte) as single upper-case hex digits separated by spaces: `7 D 5`. */
export const codesHex = (a: Uint8Array): string => [...a].map((c) => c.toString(16).toUpperCase()).join(' ');

/** SHA-256 (hex) of the bytes of `a`; FP32 arrays hash their little-endian bytes. */
export const sha256 = (a: Uint8Array | Float32Array): string =>
  createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

/** OCP MX / NVFP4 spec vector C (32 values), shared by the MXFP4, NVFP4 and ggml MXFP4 tests. */
export const VECTOR_C = new Float32Array([
  7.0, -3.1, 2.6, 1.2, 0.9, -0.6, 0.35, 0.2, -0.1, 0.05, 4.9, -5.5, 0.0, 1.4, -2.2, 0.74,
  0.26, -0.3, 1.0, 1.9, -1.1, 0.8, 0.45, -0.15, 2.9, 3.6, -4.4, 0.6, 0.01, -0.7, 1.5, 2.0,
]);

/** RMSE and max |x − y| of a decoded `y` against its source `x`. */
export function errors(x: Float32Array, y: Float32Array): { rmse: number; max: number } {
  let sq = 0;
  let max = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    sq += d * d;
    max = Math.max(max, d);
  }
  return { rmse: Math.sqrt(sq / x.length), max };
}

/** Decodes every row of a rows × cols matrix with its row decoder into one row-major FP32 array. */
export function decodeRows<M extends { rows: number; cols: number }>(
  m: M, decodeRow: (m: M, row: number, out: Float32Array, outOffset: number) => void,
): Float32Array {
  const y = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) decodeRow(m, r, y, r * m.cols);
  return y;
}

/** A flat block codec: `quantize(x)` → blocks, `dequantize(blocks, count, out)` → `count` floats. */
export type Quantize = (x: Float32Array) => Uint8Array;
export type Dequantize = (src: Uint8Array, count: number, out: Float32Array) => void;

/** Quantizes `x` and dequantizes the blocks again: `q` the blocks, `y` the decoded values. */
export function quantDequant(x: Float32Array, quantize: Quantize, dequantize: Dequantize): { q: Uint8Array; y: Float32Array } {
  const q = quantize(x);
  const y = new Float32Array(x.length);
  dequantize(q, x.length, y);
  return { q, y };
}

/**
 * `nBlocks` blocks of 32: each block gets a scale 10^e with e uniform in [lo, hi), and each element is
 * `element(r) · scale` (`r` the block's generator, drawn scale first, then the 32 elements in order).
 */
export function scaledBlocks(seed: number, nBlocks: number, lo: number, hi: number, element: (r: () => number) => number): Float32Array {
  const r = mulberry32(seed);
  const x = new Float32Array(nBlocks * 32);
  for (let b = 0; b < nBlocks; b++) {
    const scale = 10 ** (r() * (hi - lo) + lo);
    for (let j = 0; j < 32; j++) x[b * 32 + j] = element(r) * scale;
  }
  return x;
}

/** `n` uniformly random bytes (every scale byte and code of a block format). */
export function randomBytes(seed: number, n: number): Uint8Array {
  const r = mulberry32(seed);
  return new Uint8Array(n).map(() => Math.floor(r() * 256));
}

/**
 * Q4_0 / Q8_0 probe, the input of their frozen ggml hashes: 512 blocks of 32, uniform, scaled over 1e-8 .. 1e4, on a
 * 1/`grid` grid (many exact .5 ties for grid 16 (Q4_0) and 254 (Q8_0)), equal |max| of both signs (clamp), zeros.
 */
export function legacyQuantProbe(grid: number): Float32Array {
  const r = mulberry32(2024);
  const x = new Float32Array(512 * 32);
  for (let b = 0; b < 512; b++) {
    const scale = 10 ** (r() * 12 - 8);
    for (let j = 0; j < 32; j++) {
      const u = r() * 2 - 1;
      const v = [u, u * scale, (Math.round(u * grid) / grid) * scale, j === 3 ? scale : j === 9 ? -scale : u * scale, 0][b % 5]!;
      x[b * 32 + j] = v;
    }
  }
  return x;
}

/**
 * K-quant probe (Q4_K, Q5_K, Q6_K), the input of their frozen ggml hashes: 288 super-blocks of nine kinds (b % 9),
 * arithmetic only (no Math.log etc.) so the input is the same on every platform: roughly normal (a sum of four
 * uniforms), all zero, one ±1000× outlier, negative only, positive only, tiny (2^-60 .. 2^-145: f16 scales underflow,
 * f32 subnormals), a 1/8 grid (ties), sparse, constant; scales (1 .. 2)·2^(-30 .. 9).
 *
 * The frozen hashes came from a small C harness (stdin f32 → stdout blocks, then floats) linked against libggml-base.so
 * of node-llama-cpp's llama.cpp build (node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/, release v0.4.0), fed
 * this probe's bytes (`quantize_row_q{4,5,6}_K_ref`, then `dequantize_row_q{4,5,6}_K` on those blocks). That harness
 * also compared 40,000 more super-blocks of mixed data (normal at scales 1e-40 .. 1e38 incl. f32 overflow, zeros,
 * outliers, one-signed, ties, sparse, constant) and 2,000 random-byte blocks through each dequantizer with the
 * q4-k.ts / q5-k.ts / q6-k.ts code: no byte or bit differed.
 */
export function kQuantProbe(): Float32Array {
  const r = mulberry32(0x4b515541);
  const x = new Float32Array(288 * 256);
  for (let b = 0; b < 288; b++) {
    const scale = (1 + r()) * 2 ** (Math.floor(r() * 40) - 30);
    const tiny = 2 ** -(60 + Math.floor(r() * 86));
    const spike = Math.floor(r() * 256);
    for (let j = 0; j < 256; j++) {
      const g = r() + r() + r() + r() - 2;
      const sparse = r() < 0.1 ? g : 0;
      const kinds = [g, 0, j === spike ? (b & 1 ? -1000 : 1000) : g, -Math.abs(g), Math.abs(g), 0, Math.round(g * 8) / 8, sparse, 1];
      x[b * 256 + j] = b % 9 === 5 ? g * tiny : kinds[b % 9]! * scale;
    }
  }
  return x;
}

/**
 * K-quant round trip on normal data (Box–Muller; Math.log / Math.cos are fine here, nothing bit-exact depends on them):
 * 1024 super-blocks of N(0, 0.02²), relative RMSE ‖x − y‖ / ‖x‖ per super-block (`worst`) and over all (`overall`),
 * printed under `label`.
 */
export function kQuantNormalRoundTrip(label: string, quantize: Quantize, dequantize: Dequantize): { overall: number; worst: number } {
  const nBlocks = 1024;
  const r = mulberry32(0xc0ffee);
  const x = new Float32Array(nBlocks * 256);
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) * 0.02;
  const { y } = quantDequant(x, quantize, dequantize);
  let [worst, errAll, sigAll] = [0, 0, 0];
  for (let b = 0; b < nBlocks; b++) {
    let [err, sig] = [0, 0];
    for (let i = b * 256; i < (b + 1) * 256; i++) [err, sig] = [err + (x[i]! - y[i]!) ** 2, sig + x[i]! ** 2];
    worst = Math.max(worst, Math.sqrt(err / sig));
    [errAll, sigAll] = [errAll + err, sigAll + sig];
  }
  const overall = Math.sqrt(errAll / sigAll);
  console.log(`${label} round trip, ${nBlocks} blocks of N(0, 0.02²): relative RMSE ${overall.toFixed(5)} overall, worst block ${worst.toFixed(5)}`);
  return { overall, worst };
}

/**
 * ggml MXFP4 / NVFP4 probe, the input of their frozen ggml hashes: 1024 runs of 32 values cycling through 11 kinds
 * (see the comments). The last kind holds a NaN (skipped by the amax, coded 0) and, with `negInf` (the NVFP4 probe),
 * a −Inf (clamps the NVFP4 scale to 448); without it every block amax is finite and none lies in (0, 2^-125).
 */
export function ggmlFp4Probe(seed: number, { negInf }: { negInf: boolean }): Float32Array {
  const r = mulberry32(seed);
  const x = new Float32Array(1024 * 32);
  const grid = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
  for (let b = 0; b < 1024; b++) {
    const scale = 2 ** Math.floor(r() * 80 - 60);
    const sub = 2 ** Math.floor(r() * 40 - 20);
    for (let j = 0; j < 32; j++) {
      const u = r() * 2 - 1;
      const k = Math.floor(r() * 7);
      const tie = (r() < 0.5 ? (grid[k]! + grid[k + 1]!) / 2 : grid[k]!) * (u < 0 ? -1 : 1) * sub;
      const v = [
        u, // uniform
        u * scale * 1.7, // any magnitude 2^-60 .. 2^20
        tie, // grid points and midpoints of E2M1 times a power of two: ties everywhere
        j === 0 ? scale * (1 - 2 ** -24 * (1 + (b % 4))) : u * scale * 2 ** -8, // amax just below a power of two
        j === 5 ? (u < 0 ? -6 : 6) * (240 + 220 * r()) : u * 400, // UE4M3 top binade (sub-block amax / 6 in 240 .. 460)
        j % 16 === 7 ? 6 * 2 ** -9 * 9 * r() : u * 2 ** -9, // UE4M3 subnormal scales
        0,
        j % 3 === 0 ? -0 : u * 1e-3,
        u * 3e38, // near FP32 max
        j % 2 ? -scale : scale * 0.75, // equal magnitudes of both signs
        j === 3 ? NaN : negInf && j === 4 ? -Infinity : u * scale, // NaN is skipped by the amax; Inf clamps the scale
      ][b % 11]!;
      x[b * 32 + j] = v;
    }
  }
  return x;
}
