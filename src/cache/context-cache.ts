/**
 * The context cache facade (layer 3): the prefix index + a stack of levels (RAM → disk), speaking SequenceState.
 *
 * Each level has two pools with separate budgets (serving.md §8.5: "checkpoint granularity decoupled from the
 * attention page size; recurrent checkpoints are a separate, budgeted pool"):
 * - **KV blocks**: the attention K/V rows of one 16-token block (kv-block.ts), keyed by the chained block hash, shared
 *   by every snapshot, request and worker whose prefix contains that block; evicted LRU, a chain from its leaf;
 * - **snapshots**: the Mamba conv + SSM state at an exact position p plus the KV rows after its last full block
 *   (state-codec `kvFrom`); evicted cost-aware by default (eviction.ts).
 * A snapshot is usable when it and all ⌊p/16⌋ blocks before it are held by some level; when a block leaves every
 * level the snapshots that need it are dropped at once (index `dependents`).
 *
 * `lookup(ns, tokens)` walks the index's usable snapshots deepest first, verifies the entry (checksums, model
 * fingerprint, exact token prefix), assembles a fresh SequenceState (concurrent requests never share state) and
 * reports the KV-covered prefix and a branch point (where this prompt leaves a cached path past the restored
 * snapshot: the engine snapshots there so the next branch from the same point hits). Disk hits are promoted to RAM.
 *
 * `store(ns, state, reason)` writes the blocks no level holds yet and the snapshot: synchronously to RAM, queued to
 * disk.
 */
import type { ModelConfig } from '../formats/config.js';
import { deserializeStatePart, serializeState } from '../model/state-codec.js';
import { DEFAULT_STATE_FORMAT, stateBytes, type SequenceState, type StateFormat } from '../model/state.js';
import { BLOCK_TOKENS, blockHashes, namespaceOf, snapshotKey } from './block-hash.js';
import { DiskTier } from './disk-tier.js';
import type { EvictionPolicy } from './eviction.js';
import { applyKvBlock, encodeKvBlock } from './kv-block.js';
import { PrefixIndex, type SnapshotRef } from './prefix-index.js';
import { RamTier } from './ram-tier.js';
import type { CacheTier, EntryMeta, SnapshotReason, TierStats } from './tier.js';

/** Snapshots are also admitted on this grid inside long prompts (serving.md §8.5: sparse periodic grid). */
export const SNAPSHOT_GRID = 256;
/**
 * The default share of each level's budget for snapshots (the rest holds KV blocks) is sized from the model: one
 * snapshot per `SNAPSHOT_SPACING` tokens of KV, i.e. fixed / (fixed + spacing × KV bytes per token), clamped to
 * [0.1, 0.9]. A Mamba-heavy model's snapshots are large (the 250M hybrid: 9.4 MiB vs 4 KiB of KV per token → 0.9);
 * a fixed 50/50 split there held 27 snapshots in 256 MiB and evicted the ones the next turns needed.
 */
export const SNAPSHOT_SPACING = 256;

export function defaultSnapshotShare(cfg: ModelConfig, format: StateFormat = DEFAULT_STATE_FORMAT): number {
  const { fixed, perToken } = stateBytes(cfg, 0, format);
  if (fixed === 0) return 0.1;
  return Math.min(0.9, Math.max(0.1, fixed / (fixed + SNAPSHOT_SPACING * perToken)));
}

export interface ContextCacheOptions {
  /** RAM budget in bytes (snapshots + KV blocks). */
  readonly ramBytes: number;
  /** Optional disk tier (snapshots + KV blocks, split like RAM). */
  readonly disk?: { readonly dir: string; readonly bytes: number };
  /** Fraction of each budget for Mamba snapshots, in (0, 1); the rest holds KV blocks. Default: `defaultSnapshotShare`. */
  readonly snapshotShare?: number;
  /** Snapshot eviction: `cost` (recompute tokens per byte + recency, default) or `lru`. */
  readonly eviction?: EvictionPolicy;
}

export interface CacheModel {
  readonly config: ModelConfig;
  readonly fingerprint: string;
  /** How the engine stores state (sizes the default snapshot share); default f32 KV and SSM. */
  readonly stateFormat?: StateFormat;
}

export interface CacheHit {
  /** Prompt tokens covered by the restored state (the first `tokens` of the prompt). */
  readonly tokens: number;
  readonly state: SequenceState;
  readonly tier: string;
}

export interface CacheLookup {
  readonly hit: CacheHit | null;
  /** Leading prompt tokens whose attention KV is cached (whole blocks), whether or not a snapshot reaches them. */
  readonly kvTokens: number;
  /** A block boundary past the hit where this prompt leaves a cached path: worth a snapshot (`branch`). */
  readonly branchAt: number | undefined;
}

export interface TierCounters extends TierStats {
  readonly hitTokens: number;
  readonly missTokens: number;
  readonly snapshotHits: number;
  /** Prompt tokens recomputed after a hit served by this tier (sum; divide by snapshotHits for per-hit). */
  readonly recomputeTokens: number;
  /** KV blocks read from this level for restores. */
  readonly kvHitBlocks: number;
  readonly kvEntries: number;
  readonly kvBytes: number;
  readonly kvCapacityBytes: number;
  readonly kvEvictions: number;
  readonly kvCorrupt: number;
}

export interface CacheStats {
  readonly lookups: number;
  readonly hits: number;
  readonly queryTokens: number;
  /** Prompt tokens restored (state hits: every layer kind valid). */
  readonly hitTokens: number;
  /** Prompt tokens whose attention KV was cached (≥ hitTokens; the gap is what missing snapshots cost). */
  readonly kvHitTokens: number;
  readonly stores: number;
  readonly snapshots: number;
  readonly branchPoints: number;
  readonly namespaces: number;
  readonly tiers: TierCounters[];
}

interface Counts {
  hitTokens: number;
  missTokens: number;
  snapshotHits: number;
  recomputeTokens: number;
  kvHitBlocks: number;
}

interface Level {
  readonly name: string;
  readonly snap: CacheTier;
  readonly kv: CacheTier;
  readonly counts: Counts;
}

const newCounts = (): Counts => ({ hitTokens: 0, missTokens: 0, snapshotHits: 0, recomputeTokens: 0, kvHitBlocks: 0 });

export class ContextCache {
  readonly #model: CacheModel;
  readonly #index = new PrefixIndex();
  readonly #levels: Level[] = [];
  #lookups = 0;
  #hits = 0;
  #queryTokens = 0;
  #hitTokens = 0;
  #kvHitTokens = 0;
  #stores = 0;
  #branchPoints = 0;

  private constructor(model: CacheModel) {
    this.#model = model;
  }

  /** Build the levels; with a disk tier, re-index the snapshots already in its directory. */
  static async open(model: CacheModel, opts: ContextCacheOptions): Promise<ContextCache> {
    const share = opts.snapshotShare ?? defaultSnapshotShare(model.config, model.stateFormat);
    if (!(share > 0 && share < 1)) throw new RangeError(`snapshotShare must be in (0, 1), got ${share}`);
    const policy = opts.eviction ?? 'cost';
    const cache = new ContextCache(model);
    const onSnap = (key: string): void => cache.#forgetIfGone(key);
    const onKv = (hash: string): void => cache.#blockGone(hash);
    const split = (bytes: number): [number, number] => [Math.floor(bytes * share), bytes - Math.floor(bytes * share)];
    const [rs, rk] = split(opts.ramBytes);
    cache.#levels.push({
      name: 'ram', counts: newCounts(),
      snap: new RamTier({ name: 'ram', capacityBytes: rs, policy, onEvict: onSnap }),
      kv: new RamTier({ name: 'ram-kv', capacityBytes: rk, policy: 'lru', onEvict: onKv }),
    });
    if (opts.disk) {
      const [ds, dk] = split(opts.disk.bytes);
      const snap = await DiskTier.open({ dir: `${opts.disk.dir}/snapshots`, name: 'disk', capacityBytes: ds, policy, onEvict: onSnap });
      const kv = await DiskTier.open({ dir: `${opts.disk.dir}/kv`, name: 'disk-kv', capacityBytes: dk, policy: 'lru', onEvict: onKv });
      cache.#levels.push({ name: 'disk', snap, kv, counts: newCounts() });
      for (const m of snap.entries()) await cache.#reindex(m, snap);
    }
    return cache;
  }

  /** The namespace of this cache's model, with an optional salt / tenant. */
  namespace(salt?: string): string {
    return namespaceOf(this.#model.fingerprint, salt);
  }

  /** The deepest usable snapshot for `tokens` (position ≤ length − 1), restored, with the KV coverage and a branch point. */
  async lookup(ns: string, tokens: readonly number[]): Promise<CacheLookup> {
    this.#lookups++;
    this.#queryTokens += tokens.length;
    await this.#rescanUnlessFull(ns, tokens);
    const hashes = blockHashes(ns, tokens, Math.floor(Math.max(0, tokens.length - 1) / BLOCK_TOKENS));
    const kvBlocks = this.#kvRun(hashes);
    this.#kvHitTokens += kvBlocks * BLOCK_TOKENS;
    let hit: CacheHit | null = null;
    for (const ref of this.#index.lookup(ns, tokens)) {
      hit = await this.#restore(ref, tokens, hashes, kvBlocks);
      if (hit) break;
    }
    const p = hit?.tokens ?? 0;
    this.#count(hit ? this.#levels.findIndex((l) => l.name === hit.tier) : -1, tokens.length, p);
    const edge = kvBlocks * BLOCK_TOKENS;
    const branchAt = edge > p && edge < tokens.length - 1 ? edge : undefined;
    if (branchAt !== undefined) this.#branchPoints++;
    return { hit, kvTokens: edge, branchAt };
  }

  /**
   * How many leading tokens of `tokens` a `lookup` would restore (0 on a miss), from the index and the tiers' key
   * sets only: no entry is read or restored and no counter moves. For cache-aware routing (disagg `probe`).
   */
  async probe(ns: string, tokens: readonly number[]): Promise<number> {
    await this.#rescanUnlessFull(ns, tokens);
    const hashes = blockHashes(ns, tokens, Math.floor(Math.max(0, tokens.length - 1) / BLOCK_TOKENS));
    const kvBlocks = this.#kvRun(hashes);
    for (const ref of this.#index.lookup(ns, tokens)) {
      if (Math.floor(ref.position / BLOCK_TOKENS) <= kvBlocks && this.#levels.some((l) => l.snap.has(ref.key))) return ref.position;
    }
    return 0;
  }

  /** Snapshot `state` (the state after state.tokens): its missing KV blocks, then the snapshot. Returns the key. */
  store(ns: string, state: SequenceState, reason: SnapshotReason = 'prompt'): string | undefined {
    const p = state.tokens.length;
    if (p < 1 || state.model !== this.#model.fingerprint) return undefined;
    const nb = Math.floor(p / BLOCK_TOKENS);
    const hashes = blockHashes(ns, state.tokens, nb);
    for (let b = nb - 1; b >= 0; b--) this.#storeBlock(ns, state, b, hashes[b]!);
    const key = snapshotKey(ns, state.tokens, p);
    if (this.#index.has(key) && this.#levels.some((l) => l.snap.has(key))) {
      void this.#levels[0]!.snap.get(key); // refresh recency
      return key;
    }
    const meta: EntryMeta = { kind: 'snapshot', ns, position: p, key, tokens: state.tokens.slice(), reason };
    const entry = { meta, bytes: serializeState(this.#model.config, state, { kvFrom: nb * BLOCK_TOKENS }) };
    this.#index.insert(ns, state.tokens, p);
    this.#stores++;
    for (const l of this.#levels) void l.snap.put(entry);
    this.#forgetIfGone(key);
    return key;
  }

  /** Wait for queued disk writes. */
  async flush(): Promise<void> {
    for (const l of this.#levels) {
      await l.snap.flush();
      await l.kv.flush();
    }
  }

  stats(): CacheStats {
    return {
      lookups: this.#lookups, hits: this.#hits, queryTokens: this.#queryTokens, hitTokens: this.#hitTokens, kvHitTokens: this.#kvHitTokens,
      stores: this.#stores, snapshots: this.#index.size, branchPoints: this.#branchPoints, namespaces: this.#index.namespaces().size,
      tiers: this.#levels.map((l) => {
        const kv = l.kv.stats();
        return {
          ...l.snap.stats(), ...l.counts, kvEntries: kv.entries, kvBytes: kv.bytes, kvCapacityBytes: kv.capacityBytes,
          kvEvictions: kv.evictions, kvCorrupt: kv.corrupt,
        };
      }),
    };
  }

  /** Leading blocks (of `hashes`) some level holds. */
  #kvRun(hashes: readonly string[]): number {
    let n = 0;
    while (n < hashes.length && this.#levels.some((l) => l.kv.has(hashes[n]!))) n++;
    return n;
  }

  #storeBlock(ns: string, state: SequenceState, b: number, hash: string): void {
    if (this.#levels.some((l) => l.kv.has(hash))) {
      void this.#levels[0]!.kv.get(hash); // deepest first: the shallow, shared blocks end up most recent
      return;
    }
    const tokens = state.tokens.slice(b * BLOCK_TOKENS, (b + 1) * BLOCK_TOKENS);
    const entry = { meta: { kind: 'kv', ns, position: (b + 1) * BLOCK_TOKENS, key: hash, tokens } as const, bytes: encodeKvBlock(this.#model.config, state, b) };
    for (const l of this.#levels) void l.kv.put(entry);
  }

  /** Restore snapshot `ref` with its KV blocks, from the first level that holds it; null when unusable. */
  async #restore(ref: SnapshotRef, tokens: readonly number[], hashes: readonly string[], kvBlocks: number): Promise<CacheHit | null> {
    const nb = Math.floor(ref.position / BLOCK_TOKENS);
    if (nb > kvBlocks) {
      await this.#dropSnapshot(ref.key); // a block it needs left every level
      return null;
    }
    for (const [li, level] of this.#levels.entries()) {
      const entry = await level.snap.get(ref.key);
      if (!entry) continue;
      const part = this.#decode(entry.bytes, tokens, ref.position);
      if (!part) {
        await level.snap.delete(ref.key);
        continue;
      }
      for (let b = nb - 1; b >= 0; b--) {
        if (!(await this.#fillBlock(part, b, hashes[b]!, tokens))) {
          await this.#dropSnapshot(ref.key);
          return null;
        }
      }
      if (li > 0) this.#levels[0]!.snap.put(entry);
      return { tokens: ref.position, state: part, tier: level.name };
    }
    this.#index.remove(ref.key);
    return null;
  }

  /** Copy block `b` into `state` from the first level holding a valid copy (promoting it to RAM). */
  async #fillBlock(state: SequenceState, b: number, hash: string, tokens: readonly number[]): Promise<boolean> {
    for (const [li, level] of this.#levels.entries()) {
      const e = await level.kv.get(hash);
      if (!e) continue;
      const same = e.meta.tokens.every((t, i) => tokens[b * BLOCK_TOKENS + i] === t);
      if (same && applyKvBlock(this.#model.config, state, b, e.bytes)) {
        level.counts.kvHitBlocks++;
        if (li > 0) this.#levels[0]!.kv.put(e);
        return true;
      }
      await level.kv.delete(hash);
    }
    return false;
  }

  /** Deserialize and verify a snapshot against the prompt; undefined when it is corrupt or not this prefix. */
  #decode(bytes: Uint8Array, tokens: readonly number[], p: number): SequenceState | undefined {
    try {
      const { state, kvFrom } = deserializeStatePart(this.#model.config, this.#model.fingerprint, bytes);
      if (state.tokens.length !== p || kvFrom !== Math.floor(p / BLOCK_TOKENS) * BLOCK_TOKENS || state.tokens.some((t, i) => tokens[i] !== t)) return undefined;
      return state;
    } catch {
      return undefined;
    }
  }

  /**
   * Unless the index already holds the deepest possible snapshot (length − 1), let shared tiers (a disk directory
   * other workers write to) index entries added since they last looked (rate-limited inside the tier).
   */
  async #rescanUnlessFull(ns: string, tokens: readonly number[]): Promise<void> {
    const best = this.#index.lookup(ns, tokens)[0]?.position ?? 0;
    if (best >= tokens.length - 1) return;
    for (const l of this.#levels) {
      if (!(l.kv instanceof DiskTier) || !(l.snap instanceof DiskTier)) continue;
      await l.kv.rescan();
      for (const m of await l.snap.rescan()) await this.#reindex(m, l.snap);
    }
  }

  /** Index a snapshot found in a tier (restart, rescan); one whose key does not match its tokens is deleted. */
  async #reindex(m: EntryMeta, tier: CacheTier): Promise<void> {
    if (m.kind !== 'snapshot') return;
    if (this.#index.insert(m.ns, m.tokens, m.position) === m.key) return;
    this.#index.remove(snapshotKey(m.ns, m.tokens, m.position));
    await tier.delete(m.key);
  }

  /** Count a lookup served by level `li` at position p (li = −1: a miss in every level). */
  #count(li: number, n: number, p: number): void {
    const last = li < 0 ? this.#levels.length - 1 : li;
    for (let i = 0; i <= last; i++) {
      const c = this.#levels[i]!.counts;
      if (i === li) {
        c.hitTokens += p;
        c.missTokens += n - p;
        c.snapshotHits++;
        c.recomputeTokens += n - p;
      } else {
        c.missTokens += n;
      }
    }
    if (li >= 0) {
      this.#hits++;
      this.#hitTokens += p;
    }
  }

  async #dropSnapshot(key: string): Promise<void> {
    this.#index.remove(key);
    for (const l of this.#levels) await l.snap.delete(key);
  }

  /** A KV block left a level: when no level holds it any more, the snapshots that need it go too. */
  #blockGone(hash: string): void {
    if (this.#levels.some((l) => l.kv.has(hash))) return;
    for (const key of this.#index.dependents(hash)) void this.#dropSnapshot(key);
  }

  #forgetIfGone(key: string): void {
    if (!this.#levels.some((l) => l.snap.has(key))) this.#index.remove(key);
  }
}
