/**
 * The tier interface (layer 2): a bounded key → entry store. RAM and disk implement it; a remote tier (Redis)
 * can follow. Tiers know nothing of models or the index: an entry is its metadata plus opaque bytes (a
 * state-codec blob). A tier that drops an entry (eviction, corruption) tells its owner through `onEvict`.
 */

/** Why a snapshot was placed (serving.md §8.5 placement); it sets the snapshot's admission prior (eviction.ts). */
export type SnapshotReason = 'prompt' | 'turn' | 'branch' | 'grid';

/**
 * What identifies an entry. A `snapshot` is the Mamba state after tokens[0, position) plus the KV rows after its
 * last full block (`tokens` = the whole prefix, to re-index a tier after a restart); a `kv` entry is one 16-token
 * KV block ending at `position`, keyed by its chained block hash (`tokens` = the block's 16 tokens).
 */
export interface EntryMeta {
  readonly kind: 'snapshot' | 'kv';
  readonly ns: string;
  readonly position: number;
  readonly key: string;
  readonly tokens: readonly number[];
  readonly reason?: SnapshotReason;
}

export interface CacheEntry {
  readonly meta: EntryMeta;
  /** A snapshot: the state-codec blob (SHA-256 checked on restore); a KV block: kv-block.ts bytes (checked too). */
  readonly bytes: Uint8Array;
}

export interface TierStats {
  readonly tier: string;
  readonly entries: number;
  readonly bytes: number;
  readonly capacityBytes: number;
  readonly evictions: number;
  /** Entries found corrupt (bad checksum, cut short) and deleted. */
  readonly corrupt: number;
}

export type Awaitable<T> = T | Promise<T>;

export interface CacheTier {
  readonly name: string;
  get(key: string): Awaitable<CacheEntry | undefined>;
  /** Store (or refresh) an entry; never fails a request: an entry over budget evicts the oldest, one larger than the whole budget is dropped. */
  put(entry: CacheEntry): Awaitable<void>;
  delete(key: string): Awaitable<boolean>;
  has(key: string): boolean;
  stats(): TierStats;
  /** Metadata of every entry held, oldest first (to rebuild the index after a restart). */
  entries(): EntryMeta[];
  /** Wait for queued background work (disk writes). */
  flush(): Promise<void>;
}

export type EvictListener = (key: string) => void;
