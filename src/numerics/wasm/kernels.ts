/**
 * Loading the compiled kernels (assembly/ → kernels.wasm beside this file, built by `npm run build:wasm`): one
 * compiled `WebAssembly.Module`, instantiated once per (thread, memory). The module imports a shared memory
 * (`env.memory`, at most 65536 pages = 4 GiB, the wasm32 limit) and keeps no state of its own.
 */
import { readFileSync } from 'node:fs';
import { TandemError } from '../../errors.js';

/** The kernels' exports (pointers are byte offsets; i32 results above 2 GiB come back negative: use `>>> 0`). */
export interface KernelExports {
  heapBase(): number;
  groupBytes(fmt: number, colsP: number): number;
  matmul(fmt: number, w: number, x: number, out: number, colsP: number, T: number, g0: number, g1: number, os: number, tile: number, rs: number, tbl: number, gs: number): void;
  embedRow(fmt: number, w: number, colsP: number, row: number, tile: number, out: number, rs: number, tbl: number, gs: number): void;
  /** Work bytes of one ssdChunk call on a chunk of Lc tokens. */
  ssdWorkBytes(Lc: number, P: number, N: number): number;
  /** One chunk of the chunked SSD scan for heads h0..h1 (assembly/ssd.ts); delta is f64 [Lc, nh]. */
  ssdChunk(Lc: number, nh: number, P: number, N: number, G: number, x: number, B: number, C: number, delta: number, A: number, D: number, state: number, y: number, work: number, h0: number, h1: number): void;
  /** T steps of the sequential scan (assembly/ssd.ts); delta is f64 [T, nh]. */
  ssmStep(T: number, nh: number, P: number, N: number, G: number, x: number, B: number, C: number, delta: number, A: number, D: number, state: number, y: number): void;
  /** Causal conv + bias + SiLU over a staged window [K−1+T, Cd] (assembly/conv.ts); wt: [K, Cd] work. */
  conv1dSilu(T: number, Cd: number, K: number, win: number, weight: number, bias: number, out: number, wt: number): void;
  /** Grouped RMSNorm of T rows (assembly/elementwise.ts). */
  rmsNorm(out: number, x: number, T: number, dim: number, w: number, eps: number, gs: number): void;
  /** y ← y · SiLU(z) over n floats. */
  siluGate(y: number, z: number, n: number): void;
  /** x ← (x > 0 ? x : 0)² over n floats. */
  relu2(x: number, n: number): void;
  /** acc ← acc + s · x over n floats. */
  addScaled(acc: number, x: number, n: number, s: number): void;
  /** Query heads j0..j1 of one KV head (assembly/attention.ts); k, v: f32 rows of stride ld; work: pos0 + T floats. */
  attendKvHead(T: number, pos0: number, j0: number, j1: number, dh: number, q: number, ldq: number, k: number, v: number, ld: number, out: number, work: number): void;
  /** FP8 E4M3 rows → f32 [len, dh] through a 256-entry table; codes stride ld bytes, scales stride ss floats. */
  decodeFp8Rows(dst: number, codes: number, ld: number, scales: number, ss: number, len: number, dh: number, table: number): void;
}

export const WASM_PAGE = 65536;
export const WASM_MAX_PAGES = 65536;
export const KERNELS_URL = new URL('./kernels.wasm', import.meta.url);

let compiled: WebAssembly.Module | undefined;

/** The compiled kernel module (compiled once per process); UNSUPPORTED when the file is missing or not loadable here. */
export function kernelModule(): WebAssembly.Module {
  if (compiled) return compiled;
  let bytes: Buffer;
  try {
    bytes = readFileSync(KERNELS_URL);
  } catch {
    throw new TandemError('UNSUPPORTED', `wasm kernels not found at ${KERNELS_URL.pathname}; run \`npm run build:wasm\` (or use --backend ref)`);
  }
  try {
    compiled = new WebAssembly.Module(bytes);
  } catch (e) {
    throw new TandemError('UNSUPPORTED', `this Node cannot load the wasm SIMD + threads kernels (${(e as Error).message}); use --backend ref`);
  }
  return compiled;
}

/** A shared memory the kernels can import: `pages` initial, up to `maxPages`. */
export function sharedMemory(pages: number, maxPages: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: pages, maximum: maxPages, shared: true });
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const abort = (): never => {
    throw new Error('wasm kernel abort');
  };
  const inst = new WebAssembly.Instance(module, { env: { memory, abort } });
  return inst.exports as unknown as KernelExports;
}
