/** RAM tier: entries in a Map bounded by bytes; the victim on a full budget comes from the tier's EvictionOrder. */
import { EvictionOrder, type EvictionPolicy } from './eviction.js';
import type { CacheEntry, CacheTier, EntryMeta, EvictListener, TierStats } from './tier.js';

export interface RamTierOptions {
  readonly name?: string;
  readonly capacityBytes: number;
  readonly policy?: EvictionPolicy;
  readonly onEvict?: EvictListener;
}

export class RamTier implements CacheTier {
  readonly name: string;
  readonly #map = new Map<string, CacheEntry>();
  readonly #capacity: number;
  readonly #onEvict: EvictListener;
  readonly #order: EvictionOrder;
  #bytes = 0;
  #evictions = 0;

  constructor(o: RamTierOptions) {
    this.name = o.name ?? 'ram';
    this.#capacity = o.capacityBytes;
    this.#onEvict = o.onEvict ?? (() => {});
    this.#order = new EvictionOrder(o.policy ?? 'lru');
  }

  get(key: string): CacheEntry | undefined {
    const e = this.#map.get(key);
    if (e) this.#order.touch(key); // only the consumed entry, not its whole path (serving.md §8.4)
    return e;
  }

  put(entry: CacheEntry): void {
    const key = entry.meta.key;
    this.#drop(key);
    if (entry.bytes.length > this.#capacity) return;
    while (this.#bytes + entry.bytes.length > this.#capacity) {
      const victim = this.#order.victim();
      if (victim === undefined) break;
      this.#order.evicted(victim);
      this.#drop(victim);
      this.#evictions++;
      this.#onEvict(victim);
    }
    this.#map.set(key, entry);
    this.#order.add(key, entry.meta, entry.bytes.length);
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
    this.#order.remove(key);
    this.#bytes -= e.bytes.length;
    return true;
  }
}
