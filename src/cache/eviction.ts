/**
 * Eviction order for a tier: which entry goes first when the budget is full.
 *
 * - `lru`: least recently used first (KV blocks: a hit touches a chain's blocks deepest first, so the shallow,
 *   widely shared blocks are the most recent and a chain is trimmed from its leaf).
 * - `cost`: GreedyDual-Size-Frequency (Cherkasova 1998; serving.md §8.5 "evict by recompute cost per byte and
 *   recency"): an entry's priority is H = L + uses · cost / bytes, where cost = the prefill tokens the entry saves
 *   (its position) × an admission prior (turn ends and branch points count as 2 uses, prompt ends and grid points
 *   as 1), uses grows on every hit, and L, the clock, rises to the H of each evicted entry, so entries nobody reads
 *   age out however costly they were. Victim = lowest H (oldest on ties).
 */
import type { EntryMeta, SnapshotReason } from './tier.js';

export type EvictionPolicy = 'lru' | 'cost';

const PRIOR: Readonly<Record<SnapshotReason, number>> = { prompt: 1, turn: 2, branch: 2, grid: 1 };

/** Prefill tokens an entry saves × its admission prior. */
export function costOf(meta: EntryMeta): number {
  return meta.position * (meta.kind === 'snapshot' ? PRIOR[meta.reason ?? 'prompt'] : 1);
}

interface Rank {
  h: number;
  seq: number;
  uses: number;
  readonly cost: number;
  readonly size: number;
}

export class EvictionOrder {
  readonly policy: EvictionPolicy;
  readonly #ranks = new Map<string, Rank>();
  #clock = 0;
  #seq = 0;

  constructor(policy: EvictionPolicy) {
    this.policy = policy;
  }

  get size(): number {
    return this.#ranks.size;
  }

  /** A new entry (or a re-admitted one: its history is kept). */
  add(key: string, meta: EntryMeta, size: number): void {
    const old = this.#ranks.get(key);
    const r: Rank = { h: 0, seq: 0, uses: old?.uses ?? 1, cost: costOf(meta), size: Math.max(1, size) };
    this.#ranks.delete(key);
    this.#ranks.set(key, r);
    this.#rank(r);
  }

  /** A hit. */
  touch(key: string): void {
    const r = this.#ranks.get(key);
    if (!r) return;
    r.uses++;
    this.#ranks.delete(key);
    this.#ranks.set(key, r);
    this.#rank(r);
  }

  remove(key: string): void {
    this.#ranks.delete(key);
  }

  /** The entry to evict next (undefined when empty); call `evicted` once it is gone. */
  victim(): string | undefined {
    if (this.policy === 'lru') return this.#ranks.keys().next().value;
    let best: string | undefined;
    let bh = Infinity;
    let bs = Infinity;
    for (const [k, r] of this.#ranks) {
      if (r.h < bh || (r.h === bh && r.seq < bs)) {
        best = k;
        bh = r.h;
        bs = r.seq;
      }
    }
    return best;
  }

  /** Remove `key` as a victim: the clock rises to its priority. */
  evicted(key: string): void {
    const r = this.#ranks.get(key);
    if (r && this.policy === 'cost') this.#clock = Math.max(this.#clock, r.h);
    this.#ranks.delete(key);
  }

  #rank(r: Rank): void {
    r.seq = ++this.#seq;
    r.h = this.policy === 'lru' ? r.seq : this.#clock + (r.uses * r.cost) / r.size;
  }
}
