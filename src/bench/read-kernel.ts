/**
 * The memory-read kernel of the bandwidth probe, as a hand-assembled WebAssembly module (no compiler needed):
 *
 *   (import "env" "mem" (memory 1 65536 shared))
 *   (func (export "sum") (param $p i32) (param $end i32) (result i32)
 *     ;; 128 bytes per iteration: eight 16-byte v128.load, summed with i32x4.add into four accumulators
 *     ;; returns the sum of every 32-bit word of [p, end) modulo 2^32 (so the loads cannot be optimized away)
 *
 * `end − p` must be a multiple of READ_STEP_BYTES. The kernel only reads and does one 1-cycle integer add per load, so
 * on buffers far larger than the last-level cache its speed is set by DRAM read bandwidth (specs/kernels.md).
 */

/** Bytes consumed per loop iteration; every span passed to `sum` is a multiple of it. */
export const READ_STEP_BYTES = 128;
/** Wasm page size (64 KiB). */
export const WASM_PAGE_BYTES = 65536;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];

// opcodes
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_CONST = 0x41, I32_ADD = 0x6a, I32_GE_U = 0x4f;
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b, VOID = 0x40, I32 = 0x7f, V128 = 0x7b;
const SIMD = 0xfd;
const v128Load = (offset: number): number[] => [SIMD, 0x00, 4, ...uleb(offset)]; // align 2^4
const i32x4Add = [SIMD, 0xae, 0x01];
const extractLane = (lane: number): number[] => [SIMD, 0x1b, lane];

function sumBody(): number[] {
  const P = 0, END_ARG = 1, ACC = 2; // locals: params p, end; then four v128 accumulators 2..5
  const loads: number[] = [];
  for (let k = 0; k < READ_STEP_BYTES / 16; k++) {
    const acc = ACC + (k % 4);
    loads.push(LOCAL_GET, acc, LOCAL_GET, P, ...v128Load(16 * k), ...i32x4Add, LOCAL_SET, acc);
  }
  const reduce = [
    LOCAL_GET, ACC, LOCAL_GET, ACC + 1, ...i32x4Add, LOCAL_GET, ACC + 2, ...i32x4Add, LOCAL_GET, ACC + 3, ...i32x4Add,
    LOCAL_TEE, ACC, ...extractLane(0),
    LOCAL_GET, ACC, ...extractLane(1), I32_ADD,
    LOCAL_GET, ACC, ...extractLane(2), I32_ADD,
    LOCAL_GET, ACC, ...extractLane(3), I32_ADD,
  ];
  const code = [
    BLOCK, VOID, LOOP, VOID,
    LOCAL_GET, P, LOCAL_GET, END_ARG, I32_GE_U, BR_IF, 1,
    ...loads,
    LOCAL_GET, P, I32_CONST, ...uleb(READ_STEP_BYTES), I32_ADD, LOCAL_SET, P, // 128 as signed LEB is 0x80 0x01 too
    BR, 0, END, END,
    ...reduce, END,
  ];
  return [1, 4, V128, ...code]; // one local group: 4 × v128
}

/** The module's bytes (about 200). */
export function readKernelBytes(): Uint8Array {
  const body = sumBody();
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 2, I32, I32, 1, I32]), // type 0: (i32, i32) → i32
    ...section(2, [1, ...name('env'), ...name('mem'), 0x02, 0x03, ...uleb(1), ...uleb(65536)]), // shared memory import
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('sum'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/**
 * The few WebAssembly JS-API types the probe uses. The project compiles without lib.dom and @types/node 20 declares
 * no `WebAssembly` namespace, so they are declared here (locally, to stay clear of any global declaration).
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
export type WasmModule = object;
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => WasmModule;
  readonly Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  readonly Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface ReadKernel {
  /** Σ of the 32-bit words in [start, end) of the memory, modulo 2^32, as an unsigned number. */
  sum(start: number, end: number): number;
}

/** Instantiate the kernel over a shared memory (synchronous; the module is tiny). */
export function instantiateReadKernel(module: WasmModule, memory: WasmMemory): ReadKernel {
  const inst = new wasmApi.Instance(module, { env: { mem: memory } });
  const sum = inst.exports.sum as (p: number, end: number) => number;
  return { sum: (start, end) => sum(start, end) >>> 0 };
}
