/**
 * One shard: a shared wasm memory (≤ 4 GiB) with this thread's kernel instance on it, a weight heap and a scratch
 * heap. Weights that do not fit go to the next shard (see arena.ts), so models larger than 4 GiB load. The top
 * `scratchBytes` of the shard are kept for per-call scratch (inputs, outputs, decoded tiles) and scale tables, so
 * a shard full of weights can still run its matmuls.
 */
import { FreeList, alignUp } from './allocator.js';
import { instantiate, sharedMemory, WASM_PAGE, type KernelExports } from './kernels.js';
import { scaleTable, type ScaleTable } from './layout.js';

/** Bytes kept for FP4 scale tables (4 kinds × 256 f32, room for 8). */
const TABLE_AREA = 8192;

export interface Scratch {
  readonly x: number;
  readonly out: number;
  readonly tiles: number;
}

export class Shard {
  readonly index: number;
  readonly memory: WebAssembly.Memory;
  readonly kernels: KernelExports;
  readonly weights: FreeList;
  readonly scratchHeap: FreeList;
  readonly scratchBytes: number;
  #u8: Uint8Array;
  #tables = new Map<ScaleTable, number>();
  readonly #tableArea: number;
  #scratch: { ptr: number; xBytes: number; outBytes: number; tileBytes: number } | undefined;

  constructor(index: number, module: WebAssembly.Module, capacity: number) {
    const maxPages = Math.ceil(capacity / WASM_PAGE);
    this.index = index;
    this.memory = sharedMemory(1, maxPages);
    this.kernels = instantiate(module, this.memory);
    const start = alignUp(this.kernels.heapBase() >>> 0);
    const end = maxPages * WASM_PAGE;
    this.scratchBytes = Math.min(64 << 20, alignUp(Math.floor((end - start) / 4)));
    this.weights = new FreeList(start, end - this.scratchBytes);
    // Scale tables get their own area below the scratch heap, so they never split it (a region of up to
    // scratchLimit bytes always fits once the previous one is freed).
    this.#tableArea = end - this.scratchBytes;
    this.scratchHeap = new FreeList(this.#tableArea + TABLE_AREA, end);
    this.#u8 = new Uint8Array(this.memory.buffer);
  }

  /** A byte view of the whole memory (refreshed after growth). */
  bytes(): Uint8Array {
    if (this.#u8.byteLength !== this.memory.buffer.byteLength) this.#u8 = new Uint8Array(this.memory.buffer);
    return this.#u8;
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.bytes().buffer, ptr, n);
  }

  /** Grows the memory so [0, end) is addressable. */
  reach(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / WASM_PAGE));
  }

  /** Weight bytes; undefined when they do not fit in this shard. */
  allocWeights(bytes: number): number | undefined {
    const p = this.weights.alloc(bytes);
    if (p !== undefined) this.reach(p + bytes);
    return p;
  }

  /** The f32 table for FP4 scale bytes (written once per shard). */
  table(kind: ScaleTable): number {
    let p = this.#tables.get(kind);
    if (p === undefined) {
      p = this.#tableArea + this.#tables.size * 1024;
      if (p + 1024 > this.#tableArea + TABLE_AREA) throw new RangeError(`wasm shard ${this.index}: more than ${TABLE_AREA / 1024} scale tables`);
      this.reach(p + 1024);
      this.f32(p, 256).set(scaleTable(kind));
      this.#tables.set(kind, p);
    }
    return p;
  }

  /** Scratch of at least these sizes (reused across calls; contents undefined). */
  scratch(xBytes: number, outBytes: number, tileBytes: number): Scratch {
    let s = this.#scratch;
    if (!s || s.xBytes < xBytes || s.outBytes < outBytes || s.tileBytes < tileBytes) {
      if (s) this.scratchHeap.free(s.ptr);
      this.#scratch = undefined; // freed: never hand it out again, also when the allocation below throws
      const grown = { xBytes: alignUp(Math.max(xBytes, s?.xBytes ?? 0)), outBytes: alignUp(Math.max(outBytes, s?.outBytes ?? 0)), tileBytes: alignUp(Math.max(tileBytes, s?.tileBytes ?? 0)) };
      const exact = { xBytes: alignUp(xBytes), outBytes: alignUp(outBytes), tileBytes: alignUp(tileBytes) };
      const total = (n: typeof exact): number => n.xBytes + n.outBytes + n.tileBytes;
      const ptr = this.scratchHeap.alloc(total(grown));
      s = ptr !== undefined ? { ptr, ...grown } : { ptr: this.#scratchAlloc(total(exact)), ...exact };
      this.reach(s.ptr + total(s));
      this.#scratch = s;
    }
    return { x: s.ptr, out: s.ptr + s.xBytes, tiles: s.ptr + s.xBytes + s.outBytes };
  }

  /** The most scratch bytes one call may ask for (tables and alignment set aside). */
  get scratchLimit(): number {
    return this.scratchBytes - TABLE_AREA - 4 * 64;
  }

  #scratchAlloc(bytes: number): number {
    const p = this.scratchHeap.alloc(bytes);
    if (p === undefined) throw new RangeError(`wasm shard ${this.index}: ${bytes} scratch bytes do not fit in ${this.scratchBytes}`);
    this.reach(p + bytes);
    return p;
  }
}
