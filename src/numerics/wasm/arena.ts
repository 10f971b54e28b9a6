/**
 * Weights across shards. A matrix goes whole into the first shard with room; one that fits nowhere is split by row
 * groups over as many shards as it needs (new shards are opened on demand, each a separate ≤ 4 GiB wasm memory),
 * which is how models larger than wasm32's 4 GiB load.
 */
import { TandemError } from '../../errors.js';
import { ALIGN } from './allocator.js';
import { Shard } from './shard.js';
import type { PackPlan } from './layout.js';

/** Row groups g0..g1 of a matrix, packed at `ptr` in shard `shard`; `rs`: their FP8 row scales (0 if none). */
export interface Piece {
  readonly shard: number;
  readonly ptr: number;
  readonly g0: number;
  readonly g1: number;
  readonly rs: number;
}

export class Arena {
  readonly shards: Shard[] = [];
  readonly #module: WebAssembly.Module;
  readonly #capacity: number;
  readonly #onShard: (s: Shard) => void;

  constructor(module: WebAssembly.Module, capacity: number, onShard: (s: Shard) => void) {
    this.#module = module;
    this.#capacity = capacity;
    this.#onShard = onShard;
    this.#open();
  }

  #open(): Shard {
    const s = new Shard(this.shards.length, this.#module, this.#capacity);
    this.shards.push(s);
    this.#onShard(s);
    return s;
  }

  /** Allocates and writes the packed matrix; returns its pieces in row order. */
  place(plan: PackPlan): Piece[] {
    const pieces: Piece[] = [];
    const per = plan.groupBytes + (plan.rowScale ? 16 : 0); // FP8: 4 f32 row scales per group
    const fits = (s: Shard): number => Math.floor((s.weights.largestFree() - 2 * ALIGN) / per);
    for (let g = 0; g < plan.groups; ) {
      const rest = plan.groups - g;
      let shard = this.shards.find((s) => fits(s) >= rest);
      if (!shard) {
        const roomiest = this.shards.reduce((a, b) => (fits(b) > fits(a) ? b : a));
        shard = fits(roomiest) >= 1 ? roomiest : this.#open();
      }
      const n = Math.min(rest, fits(shard));
      if (n < 1) throw new TandemError('UNSUPPORTED', `a 4-row group of ${plan.cols} columns (${plan.groupBytes} bytes) does not fit in one wasm memory`);
      pieces.push(this.#write(shard, plan, g, g + n));
      g += n;
    }
    return pieces;
  }

  #write(shard: Shard, plan: PackPlan, g0: number, g1: number): Piece {
    const n = g1 - g0;
    const ptr = shard.allocWeights(n * plan.groupBytes)!;
    const dst = shard.bytes().subarray(ptr, ptr + n * plan.groupBytes);
    dst.fill(0);
    plan.write(dst, g0, g1);
    let rs = 0;
    if (plan.rowScale) {
      rs = shard.allocWeights(n * 16)!;
      const v = shard.f32(rs, n * 4).fill(0);
      v.set(plan.rowScale.subarray(g0 * 4, Math.min(plan.rows, g1 * 4)));
    }
    return { shard: shard.index, ptr, g0, g1, rs };
  }

  free(pieces: readonly Piece[]): void {
    for (const p of pieces) {
      const s = this.shards[p.shard]!;
      s.weights.free(p.ptr);
      if (p.rs) s.weights.free(p.rs);
    }
  }
}
