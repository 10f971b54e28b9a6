/**
 * Disk tier: one file per entry in a directory, bounded by bytes, evicted in its EvictionOrder (LRU by file mtime
 * after a restart, or cost-aware); survives restarts
 * (`DiskTier.open` re-reads every entry's header). Writes are queued off the request path (`flush()` awaits them);
 * a pending write is served from memory. File format (`<key>.tce`, little-endian):
 *
 *   0   8 B   magic "TNDMCACH"
 *   8   u32   version (2)
 *   12  u32   header length L
 *   16  L B   header, UTF-8 JSON EntryMeta { kind, ns, position, key, tokens, reason? }
 *       …     payload: a snapshot's state-codec blob or a KV block (each itself SHA-256 checked)
 *   end 32 B  SHA-256 of every byte before it
 *
 * A file with a bad magic, header, length or checksum is a miss: it is deleted and reported through `onEvict`.
 *
 * Sharing: several processes (disaggregated workers) may open the same directory. `rescan()` indexes entry files
 * another process wrote after this one opened the directory (headers only, at most once per `RESCAN_MS`); the
 * context cache calls it before concluding a lookup missed. Writes go through a per-process temp file + rename.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_TOKENS } from './block-hash.js';
import { EvictionOrder, type EvictionPolicy } from './eviction.js';
import type { CacheEntry, CacheTier, EntryMeta, EvictListener, TierStats } from './tier.js';

const MAGIC = Buffer.from('TNDMCACH');
const VERSION = 2;
const HASH = 32;
const EXT = '.tce';
/** `rescan()` reads the directory at most this often. */
export const RESCAN_MS = 1000;

export interface DiskTierOptions {
  readonly dir: string;
  readonly capacityBytes: number;
  readonly name?: string;
  readonly policy?: EvictionPolicy;
  readonly onEvict?: EvictListener;
}

interface Slot {
  readonly meta: EntryMeta;
  readonly size: number;
}

export function encodeEntry(e: CacheEntry): Buffer {
  const header = Buffer.from(JSON.stringify(e.meta));
  const buf = Buffer.alloc(16 + header.length + e.bytes.length + HASH);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(VERSION, 8);
  buf.writeUInt32LE(header.length, 12);
  header.copy(buf, 16);
  buf.set(e.bytes, 16 + header.length);
  createHash('sha256').update(buf.subarray(0, buf.length - HASH)).digest().copy(buf, buf.length - HASH);
  return buf;
}

/** Parse and verify a whole file; undefined when anything is wrong. */
export function decodeEntry(buf: Buffer): CacheEntry | undefined {
  const meta = parseHeader(buf);
  if (!meta || buf.length < 16 + meta.len + HASH) return undefined;
  const digest = createHash('sha256').update(buf.subarray(0, buf.length - HASH)).digest();
  if (!digest.equals(buf.subarray(buf.length - HASH))) return undefined;
  return { meta: meta.meta, bytes: new Uint8Array(buf.subarray(16 + meta.len, buf.length - HASH)) };
}

function parseHeader(buf: Buffer): { meta: EntryMeta; len: number } | undefined {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== VERSION) return undefined;
  const len = buf.readUInt32LE(12);
  if (buf.length < 16 + len) return undefined;
  try {
    const m = JSON.parse(buf.subarray(16, 16 + len).toString('utf8')) as EntryMeta;
    const tokensOk = Array.isArray(m.tokens) && (m.kind === 'snapshot' ? m.tokens.length === m.position
      : m.kind === 'kv' && m.tokens.length === BLOCK_TOKENS && m.position % BLOCK_TOKENS === 0);
    const ok = typeof m.ns === 'string' && typeof m.key === 'string' && /^[0-9a-f]{64}$/.test(m.key) && Number.isInteger(m.position) && m.position > 0 && tokensOk;
    return ok ? { meta: m, len } : undefined;
  } catch {
    return undefined;
  }
}

export class DiskTier implements CacheTier {
  readonly name: string;
  readonly dir: string;
  readonly #capacity: number;
  readonly #onEvict: EvictListener;
  /** Entries on disk, in the order they were indexed. */
  readonly #slots = new Map<string, Slot>();
  readonly #order: EvictionOrder;
  readonly #pending = new Map<string, CacheEntry>();
  #queue: Promise<void> = Promise.resolve();
  #bytes = 0;
  #evictions = 0;
  #corrupt = 0;
  #lastScan = Date.now();
  #scanning: Promise<EntryMeta[]> | undefined;

  private constructor(o: DiskTierOptions) {
    this.name = o.name ?? 'disk';
    this.dir = o.dir;
    this.#capacity = o.capacityBytes;
    this.#onEvict = o.onEvict ?? (() => {});
    this.#order = new EvictionOrder(o.policy ?? 'lru');
  }

  /** Open (creating) the directory and re-index the entries already there, oldest first. */
  static async open(o: DiskTierOptions): Promise<DiskTier> {
    const t = new DiskTier(o);
    mkdirSync(o.dir, { recursive: true });
    const found: { slot: Slot; mtime: number }[] = [];
    for (const name of readdirSync(o.dir)) {
      const file = join(o.dir, name);
      if (name.endsWith('.tmp')) removeStaleTemp(file); // a write cut short by a crash
      if (!name.endsWith(EXT)) continue;
      const slot = await readSlot(file);
      if (!slot || `${slot.meta.key}${EXT}` !== name) {
        t.#corrupt++;
        await unlink(file).catch(() => {});
        continue;
      }
      found.push({ slot, mtime: statSync(file).mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const { slot } of found) t.#index(slot);
    await t.#evictToFit(0);
    return t;
  }

  /**
   * Index entry files other processes added since the last scan (headers only; rate-limited to one directory read
   * per `RESCAN_MS`, concurrent callers share it). Returns the new entries' metadata, for the owner's index.
   * Unreadable or mis-named files are skipped, not deleted: their writer owns them (checksums still guard reads).
   */
  rescan(): Promise<EntryMeta[]> {
    if (this.#scanning) return this.#scanning;
    if (Date.now() - this.#lastScan < RESCAN_MS) return Promise.resolve([]);
    this.#lastScan = Date.now();
    this.#scanning = this.#scan().finally(() => {
      this.#scanning = undefined;
      this.#lastScan = Date.now();
    });
    return this.#scanning;
  }

  async #scan(): Promise<EntryMeta[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const added: EntryMeta[] = [];
    for (const name of names) {
      if (!name.endsWith(EXT)) continue;
      const key = name.slice(0, -EXT.length);
      if (this.#slots.has(key) || this.#pending.has(key)) continue;
      const slot = await readSlot(join(this.dir, name)).catch(() => undefined);
      if (!slot || slot.meta.key !== key || this.#slots.has(key)) continue;
      this.#index(slot);
      added.push(slot.meta);
    }
    return added;
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    const file = this.#file(key);
    const entry = decodeEntry(await readFile(file).catch(() => Buffer.alloc(0)));
    if (!entry || entry.meta.key !== key || entry.meta.position !== slot.meta.position) {
      this.#corrupt++;
      await this.#remove(key);
      this.#onEvict(key);
      return undefined;
    }
    this.#order.touch(key);
    const now = new Date();
    void utimes(file, now, now).catch(() => {});
    return entry;
  }

  /** Queue the write; returns at once (await `flush()` to know it is on disk). */
  put(entry: CacheEntry): void {
    const key = entry.meta.key;
    if (this.#slots.has(key) || this.#pending.has(key)) return;
    this.#pending.set(key, entry);
    this.#queue = this.#queue.then(() => this.#write(entry)).catch((e: unknown) => {
      console.error(`tandem cache: disk write of ${key.slice(0, 12)}… failed:`, e);
    }).finally(() => this.#pending.delete(key));
  }

  /** Remove an entry (and its file); reports whether it was held. */
  async delete(key: string): Promise<boolean> {
    await this.#queue;
    if (!this.#slots.has(key)) return false;
    await this.#remove(key);
    return true;
  }

  has(key: string): boolean {
    return this.#slots.has(key) || this.#pending.has(key);
  }

  stats(): TierStats {
    return { tier: this.name, entries: this.#slots.size, bytes: this.#bytes, capacityBytes: this.#capacity, evictions: this.#evictions, corrupt: this.#corrupt };
  }

  entries(): EntryMeta[] {
    return [...this.#slots.values()].map((s) => s.meta);
  }

  async flush(): Promise<void> {
    for (;;) {
      const q = this.#queue;
      await q;
      if (q === this.#queue) return;
    }
  }

  async #write(entry: CacheEntry): Promise<void> {
    const buf = encodeEntry(entry);
    if (buf.length > this.#capacity) return;
    await this.#evictToFit(buf.length);
    const file = this.#file(entry.meta.key);
    const tmp = `${file}.${process.pid}.tmp`; // per process: workers sharing the directory may write one key at once
    await writeFile(tmp, buf);
    await rename(tmp, file);
    this.#index({ meta: entry.meta, size: buf.length });
  }

  #index(slot: Slot): void {
    this.#slots.set(slot.meta.key, slot);
    this.#order.add(slot.meta.key, slot.meta, slot.size);
    this.#bytes += slot.size;
  }

  async #evictToFit(incoming: number): Promise<void> {
    while (this.#bytes + incoming > this.#capacity && this.#slots.size > 0) {
      const victim = this.#order.victim();
      if (victim === undefined) break;
      this.#order.evicted(victim);
      await this.#remove(victim);
      this.#evictions++;
      this.#onEvict(victim);
    }
  }

  async #remove(key: string): Promise<void> {
    const slot = this.#slots.get(key);
    if (!slot) return;
    this.#slots.delete(key);
    this.#order.remove(key);
    this.#bytes -= slot.size;
    await unlink(this.#file(key)).catch(() => {});
  }

  #file(key: string): string {
    return join(this.dir, key + EXT);
  }
}

/**
 * Delete `<key>.tce.<pid>.tmp` when its writer is gone: another live process (a worker sharing the directory) or
 * another tier in this process may be writing it right now.
 */
function removeStaleTemp(file: string): void {
  const pid = Number(/\.(\d+)\.tmp$/.exec(file)?.[1]);
  if (Number.isInteger(pid) && pid > 0) {
    if (pid === process.pid) return;
    try {
      process.kill(pid, 0);
      return; // alive
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') return; // alive, another user's
    }
  }
  try {
    unlinkSync(file);
  } catch {
    // already gone (its writer renamed it)
  }
}

/** Read just the header of an entry file (and its size). */
async function readSlot(file: string): Promise<Slot | undefined> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(16);
    await fh.read(head, 0, 16, 0);
    const len = head.readUInt32LE(12);
    if (!head.subarray(0, 8).equals(MAGIC) || 16 + len + HASH > size) return undefined;
    const buf = Buffer.alloc(16 + len);
    await fh.read(buf, 0, 16 + len, 0);
    const h = parseHeader(buf);
    return h ? { meta: h.meta, size } : undefined;
  } finally {
    await fh.close();
  }
}
