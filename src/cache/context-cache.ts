/**
 * The context cache facade (layer 3): the prefix index + a stack of tiers (RAM → disk), speaking SequenceState.
 *
 * `lookup(ns, tokens)` walks the index's usable snapshots deepest first, asks each tier in order, verifies the
 * entry (codec SHA-256, model fingerprint, exact token prefix) and restores a fresh SequenceState (a private copy:
 * concurrent requests never share state). A snapshot no tier holds any more is dropped from the index and the
 * next shallower one is tried. Disk hits are promoted to RAM.
 *
 * `store(ns, state)` snapshots a state synchronously (serialize → index → RAM), and queues the disk write.
 */
import type { ModelConfig } from '../formats/config.js';
import { deserializeState, serializeState } from '../model/state-codec.js';
import type { SequenceState } from '../model/state.js';
import { namespaceOf, snapshotKey } from './block-hash.js';
import { DiskTier } from './disk-tier.js';
import { PrefixIndex } from './prefix-index.js';
import { RamTier } from './ram-tier.js';
import type { CacheTier, TierStats } from './tier.js';

/** Snapshots are also admitted on this grid inside long prompts (serving.md §8.5: sparse periodic grid). */
export const SNAPSHOT_GRID = 256;

export interface ContextCacheOptions {
  /** RAM tier budget in bytes. */
  readonly ramBytes: number;
  /** Optional disk tier. */
  readonly disk?: { readonly dir: string; readonly bytes: number };
}

export interface CacheModel {
  readonly config: ModelConfig;
  readonly fingerprint: string;
}

export interface CacheHit {
  /** Prompt tokens covered by the restored state (the first `tokens` of the prompt). */
  readonly tokens: number;
  readonly state: SequenceState;
  readonly tier: string;
}

export interface TierCounters extends TierStats {
  readonly hitTokens: number;
  readonly missTokens: number;
  readonly snapshotHits: number;
  /** Prompt tokens recomputed after a hit served by this tier (sum; divide by snapshotHits for per-hit). */
  readonly recomputeTokens: number;
}

export interface CacheStats {
  readonly lookups: number;
  readonly hits: number;
  readonly queryTokens: number;
  readonly hitTokens: number;
  readonly stores: number;
  readonly snapshots: number;
  readonly namespaces: number;
  readonly tiers: TierCounters[];
}

interface Counts {
  hitTokens: number;
  missTokens: number;
  snapshotHits: number;
  recomputeTokens: number;
}

export class ContextCache {
  readonly #model: CacheModel;
  readonly #index = new PrefixIndex();
  readonly #tiers: CacheTier[];
  readonly #counts: Counts[];
  #lookups = 0;
  #hits = 0;
  #queryTokens = 0;
  #hitTokens = 0;
  #stores = 0;

  private constructor(model: CacheModel, tiers: CacheTier[]) {
    this.#model = model;
    this.#tiers = tiers;
    this.#counts = tiers.map(() => ({ hitTokens: 0, missTokens: 0, snapshotHits: 0, recomputeTokens: 0 }));
  }

  /** Build the tiers; with a disk tier, re-index the snapshots already in its directory. */
  static async open(model: CacheModel, opts: ContextCacheOptions): Promise<ContextCache> {
    const tiers: CacheTier[] = [];
    let cache: ContextCache | undefined;
    const onEvict = (key: string): void => {
      if (cache) cache.#forgetIfGone(key);
    };
    tiers.push(new RamTier(opts.ramBytes, onEvict));
    if (opts.disk) tiers.push(await DiskTier.open({ dir: opts.disk.dir, capacityBytes: opts.disk.bytes, onEvict }));
    cache = new ContextCache(model, tiers);
    for (const t of tiers.slice(1)) {
      for (const m of t.entries()) {
        if (cache.#index.insert(m.ns, m.tokens, m.position) !== m.key) {
          cache.#index.remove(snapshotKey(m.ns, m.tokens, m.position));
          await t.delete(m.key);
        }
      }
    }
    return cache;
  }

  /** The namespace of this cache's model, with an optional salt / tenant. */
  namespace(salt?: string): string {
    return namespaceOf(this.#model.fingerprint, salt);
  }

  /** The deepest usable snapshot for `tokens` (position ≤ length − 1), restored; null on a miss. */
  async lookup(ns: string, tokens: readonly number[]): Promise<CacheHit | null> {
    this.#lookups++;
    this.#queryTokens += tokens.length;
    await this.#rescanUnlessFull(ns, tokens);
    for (const ref of this.#index.lookup(ns, tokens)) {
      for (const [ti, tier] of this.#tiers.entries()) {
        const entry = await tier.get(ref.key);
        if (!entry) continue;
        const state = this.#restore(entry.bytes, tokens, ref.position);
        if (!state) {
          await tier.delete(ref.key);
          continue;
        }
        if (ti > 0) this.#tiers[0]!.put(entry);
        this.#hit(ti, tokens.length, ref.position);
        return { tokens: ref.position, state, tier: tier.name };
      }
      this.#index.remove(ref.key);
    }
    this.#hit(-1, tokens.length, 0);
    return null;
  }

  /**
   * How many leading tokens of `tokens` a `lookup` would restore (0 on a miss), from the index and the tiers' key
   * sets only: no entry is read or restored and no counter moves. For cache-aware routing (disagg `probe`).
   */
  async probe(ns: string, tokens: readonly number[]): Promise<number> {
    await this.#rescanUnlessFull(ns, tokens);
    for (const ref of this.#index.lookup(ns, tokens)) if (this.#tiers.some((t) => t.has(ref.key))) return ref.position;
    return 0;
  }

  /**
   * Unless the index already holds the deepest possible snapshot (length − 1), let shared tiers (a disk directory
   * other workers write to) index entries added since they last looked (rate-limited inside the tier).
   */
  async #rescanUnlessFull(ns: string, tokens: readonly number[]): Promise<void> {
    const best = this.#index.lookup(ns, tokens)[0]?.position ?? 0;
    if (best >= tokens.length - 1) return;
    for (const t of this.#tiers) {
      if (!(t instanceof DiskTier)) continue;
      for (const m of await t.rescan()) {
        if (this.#index.insert(m.ns, m.tokens, m.position) !== m.key) this.#index.remove(snapshotKey(m.ns, m.tokens, m.position));
      }
    }
  }

  /** Snapshot `state` (the state after state.tokens); sync for RAM, queued for disk. Returns the key. */
  store(ns: string, state: SequenceState): string | undefined {
    const p = state.tokens.length;
    if (p < 1 || state.model !== this.#model.fingerprint) return undefined;
    const key = snapshotKey(ns, state.tokens, p);
    if (this.#index.has(key) && this.#tiers.some((t) => t.has(key))) {
      void this.#tiers[0]!.get(key); // refresh recency
      return key;
    }
    const entry = { meta: { ns, position: p, key, tokens: state.tokens.slice() }, bytes: serializeState(this.#model.config, state) };
    this.#index.insert(ns, state.tokens, p);
    this.#stores++;
    for (const t of this.#tiers) void t.put(entry);
    this.#forgetIfGone(key);
    return key;
  }

  /** Wait for queued disk writes. */
  async flush(): Promise<void> {
    for (const t of this.#tiers) await t.flush();
  }

  stats(): CacheStats {
    return {
      lookups: this.#lookups, hits: this.#hits, queryTokens: this.#queryTokens, hitTokens: this.#hitTokens, stores: this.#stores,
      snapshots: this.#index.size, namespaces: this.#index.namespaces().size,
      tiers: this.#tiers.map((t, i) => ({ ...t.stats(), ...this.#counts[i]! })),
    };
  }

  /** Deserialize and verify an entry against the prompt; undefined when it is corrupt or not this prefix. */
  #restore(bytes: Uint8Array, tokens: readonly number[], p: number): SequenceState | undefined {
    try {
      const s = deserializeState(this.#model.config, this.#model.fingerprint, bytes);
      if (s.tokens.length !== p || s.tokens.some((t, i) => tokens[i] !== t)) return undefined;
      return s;
    } catch {
      return undefined;
    }
  }

  /** Count a lookup served by tier `ti` at position p (ti = −1: a miss in every tier). */
  #hit(ti: number, n: number, p: number): void {
    const last = ti < 0 ? this.#tiers.length - 1 : ti;
    for (let i = 0; i <= last; i++) {
      const c = this.#counts[i]!;
      if (i === ti) {
        c.hitTokens += p;
        c.missTokens += n - p;
        c.snapshotHits++;
        c.recomputeTokens += n - p;
      } else {
        c.missTokens += n;
      }
    }
    if (ti >= 0) {
      this.#hits++;
      this.#hitTokens += p;
    }
  }

  #forgetIfGone(key: string): void {
    if (!this.#tiers.some((t) => t.has(key))) this.#index.remove(key);
  }
}
