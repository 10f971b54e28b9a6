/** RAM tier: entries in a Map in LRU order, bounded by bytes. */
import type { CacheEntry, CacheTier, EntryMeta, EvictListener, TierStats } from './tier.js';

export class RamTier implements CacheTier {
  readonly name = 'ram';
  readonly #map = new Map<string, CacheEntry>();
  readonly #capacity: number;
  readonly #onEvict: EvictListener;
  #bytes = 0;
  #evictions = 0;

  constructor(capacityBytes: number, onEvict: EvictListener = () => {}) {
    this.#capacity = capacityBytes;
    this.#onEvict = onEvict;
  }

  get(key: string): CacheEntry | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    this.#map.delete(key); // refresh recency: only the consumed snapshot, not its whole path (serving.md §8.4)
    this.#map.set(key, e);
    return e;
  }

  put(entry: CacheEntry): void {
    const key = entry.meta.key;
    this.#drop(key);
    if (entry.bytes.length > this.#capacity) return;
    while (this.#bytes + entry.bytes.length > this.#capacity) {
      const oldest = this.#map.keys().next().value as string;
      this.#drop(oldest);
      this.#evictions++;
      this.#onEvict(oldest);
    }
    this.#map.set(key, entry);
    this.#bytes += entry.bytes.length;
  }

  delete(key: string): boolean {
    return this.#drop(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  stats(): TierStats {
    return { tier: this.name, entries: this.#map.size, bytes: this.#bytes, capacityBytes: this.#capacity, evictions: this.#evictions, corrupt: 0 };
  }

  entries(): EntryMeta[] {
    return [...this.#map.values()].map((e) => e.meta);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  #drop(key: string): boolean {
    const e = this.#map.get(key);
    if (!e) return false;
    this.#map.delete(key);
    this.#bytes -= e.bytes.length;
    return true;
  }
}
