/**
 * Scratch memory for the non-matmul ops: one region of the first shard's scratch (the same region matmul stages its
 * inputs in; ops run one at a time on the calling thread, so they never overlap), cut into 64-byte-aligned buffers.
 */
import { ALIGN, alignUp } from './allocator.js';
import type { KernelExports } from './kernels.js';
import type { Shard } from './shard.js';

/** Bytes a region of these buffer sizes needs (each rounded up to ALIGN, plus the base's alignment). */
export const regionBytes = (sizes: readonly number[]): number => sizes.reduce((n, s) => n + alignUp(Math.max(s, 1)), ALIGN);

export class OpScratch {
  readonly #shard: () => Shard;

  constructor(shard: () => Shard) {
    this.#shard = shard;
  }

  get kernels(): KernelExports {
    return this.#shard().kernels;
  }

  /** The most bytes one region may take. */
  get limit(): number {
    return this.#shard().scratchLimit;
  }

  /** Buffers of `sizes` bytes (in order), or undefined when together they exceed the scratch limit. */
  region(sizes: readonly number[]): number[] | undefined {
    const shard = this.#shard();
    if (regionBytes(sizes) > shard.scratchLimit) return undefined;
    let at = alignUp(shard.scratch(regionBytes(sizes), 0, 0).x);
    return sizes.map((s) => {
      const p = at;
      at = alignUp(p + Math.max(s, 1));
      return p;
    });
  }

  /**
   * The largest n ≤ want (≥ 1) for which region(sizes(n)) fits, halving from `want`, with its buffers; undefined when
   * not even n = 1 fits.
   */
  fit(want: number, sizes: (n: number) => readonly number[]): { n: number; at: number[] } | undefined {
    let n = Math.max(1, want);
    for (;;) {
      const at = this.region(sizes(n));
      if (at) return { n, at };
      if (n === 1) return undefined;
      n = Math.ceil(n / 2);
    }
  }

  f32(ptr: number, n: number): Float32Array {
    return this.#shard().f32(ptr, n);
  }

  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.#shard().bytes().buffer, ptr, n);
  }

  u8(ptr: number, n: number): Uint8Array {
    return this.#shard().bytes().subarray(ptr, ptr + n);
  }
}
