/**
 * The tier interface (layer 2): a bounded key → entry store. RAM and disk implement it; a remote tier (Redis)
 * can follow. Tiers know nothing of models or the index: an entry is its metadata plus opaque bytes (a
 * state-codec blob). A tier that drops an entry (eviction, corruption) tells its owner through `onEvict`.
 */

/** What identifies an entry: namespace, snapshot position, key, and the token prefix (to re-index a tier). */
export interface EntryMeta {
  readonly ns: string;
  readonly position: number;
  readonly key: string;
  /** tokens[0, position): the prefix the snapshot is the state of. */
  readonly tokens: readonly number[];
}

export interface CacheEntry {
  readonly meta: EntryMeta;
  /** The serialized SequenceState (model/state-codec.ts, SHA-256 checked on restore). */
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
