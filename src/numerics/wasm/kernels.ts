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
