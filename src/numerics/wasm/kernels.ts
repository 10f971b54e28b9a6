/**
 * Loading the compiled kernels (assembly/ → kernels.wasm beside this file, built by `npm run build:wasm`): one
 * compiled `WebAssembly.Module`, instantiated once per (thread, memory). The module imports a shared memory
 * (`env.memory`, at most 65536 pages = 4 GiB, the wasm32 limit) and keeps no state of its own.
 *
 * Two builds of the same source: `simd128` (kernels.wasm, runs on every Node ≥ 20) and `relaxed-simd`
 * (kernels-relaxed.wasm: the int8 decode dots on `i32x4.relaxed_dot_i8x16_i7x16_add_s`; Node 20 runs it only when
 * started with `--experimental-wasm-relaxed-simd`, and right only with `--no-liftoff` too, see RelaxedSupport). Same
 * exports, same memory layout, bit-identical results.
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
export const KERNELS_RELAXED_URL = new URL('./kernels-relaxed.wasm', import.meta.url);

/** The two kernel builds: plain 128-bit SIMD, and SIMD plus relaxed SIMD (faster int8 decode). */
export type WasmIsa = 'simd128' | 'relaxed-simd';

/**
 * Relaxed SIMD here: `absent` (Node 20 without `--experimental-wasm-relaxed-simd`), `wrong` (it validates but computes
 * wrong dots: Node 20.20's baseline compiler Liftoff returns 2·Σa·b and drops the accumulator, so the kernels are
 * only right when every function runs optimized, `node --no-liftoff`), or `ok`.
 */
export type RelaxedSupport = 'absent' | 'wrong' | 'ok';

const DOT_A = [-128, 127, -1, 5, -77, 33, 0, -9, 100, -100, 64, -64, 3, -3, 127, -128];
const DOT_B = [127, 1, 15, 0, 24, 99, 7, 64, 3, 2, 127, 126, 12, 11, 0, 5];
const DOT_C = [1000, -2000, 3, 0x12345];

/** A module exporting `p() → i32`: 1 when `i32x4.relaxed_dot_i8x16_i7x16_add_s` (0xfd 0x113) of constants is right. */
function relaxedProbe(): Uint8Array {
  const want = DOT_C.map((c, l) => c + [0, 1, 2, 3].reduce((acc, k) => acc + DOT_A[4 * l + k]! * DOT_B[4 * l + k]!, 0));
  const v128 = (bytes: readonly number[]): number[] => [0xfd, 0x0c, ...bytes.map((b) => b & 255)];
  const i32s = (vs: readonly number[]): number[] => vs.flatMap((v) => [v, v >> 8, v >> 16, v >>> 24]);
  const body = [
    0x00, // no locals
    ...v128(DOT_A), ...v128(DOT_B), ...v128(i32s(DOT_C)), 0xfd, 0x93, 0x02, // relaxed dot-add
    ...v128(i32s(want)), 0xfd, 0x37, 0xfd, 0xa3, 0x01, // i32x4.eq, i32x4.all_true
    0x0b,
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // types: () → i32
    0x03, 0x02, 0x01, 0x00, // functions: one of type 0
    0x07, 0x05, 0x01, 0x01, 0x70, 0x00, 0x00, // exports: "p" = function 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
}

let relaxed: RelaxedSupport | undefined;

/** Whether this process runs relaxed SIMD, and runs it right (probed once). */
export function relaxedSimdSupport(): RelaxedSupport {
  if (relaxed) return relaxed;
  const bytes = relaxedProbe();
  if (!WebAssembly.validate(bytes)) return (relaxed = 'absent');
  const probe = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as { p(): number };
  return (relaxed = probe.p() === 1 ? 'ok' : 'wrong');
}

const compiled = new Map<WasmIsa, WebAssembly.Module>();

/** The compiled kernel module of one build (compiled once per process); UNSUPPORTED when the file is missing or not loadable here. */
export function kernelModule(isa: WasmIsa = 'simd128'): WebAssembly.Module {
  const have = compiled.get(isa);
  if (have) return have;
  const url = isa === 'simd128' ? KERNELS_URL : KERNELS_RELAXED_URL;
  let bytes: Buffer;
  try {
    bytes = readFileSync(url);
  } catch {
    throw new TandemError('UNSUPPORTED', `wasm kernels not found at ${url.pathname}; run \`npm run build:wasm\` (or use --backend ref)`);
  }
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (e) {
    const need = isa === 'simd128' ? 'wasm SIMD + threads' : 'wasm relaxed SIMD';
    throw new TandemError('UNSUPPORTED', `this Node cannot load the ${need} kernels (${(e as Error).message}); use --backend ref`);
  }
  compiled.set(isa, module);
  return module;
}

/**
 * The build a backend should use: `want` true requires relaxed SIMD (UNSUPPORTED when this process lacks it or runs it
 * wrong), false forbids it, undefined takes it when the process runs it right and kernels-relaxed.wasm loads.
 */
export function chooseIsa(want: boolean | undefined): WasmIsa {
  if (want === false) return 'simd128';
  const support = relaxedSimdSupport();
  if (want) {
    if (support === 'absent') throw new TandemError('UNSUPPORTED', 'this Node runs no wasm relaxed SIMD; start it with `node --experimental-wasm-relaxed-simd --no-liftoff` or leave relaxed SIMD off');
    if (support === 'wrong') throw new TandemError('UNSUPPORTED', "this Node's baseline wasm compiler gets relaxed SIMD dot products wrong; add `--no-liftoff` to the node flags or leave relaxed SIMD off");
    return 'relaxed-simd';
  }
  if (support !== 'ok') return 'simd128';
  try {
    kernelModule('relaxed-simd');
    return 'relaxed-simd';
  } catch {
    return 'simd128'; // a partial build without kernels-relaxed.wasm: the plain kernels compute the same results
  }
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
