/**
 * A first-fit free-list allocator over one wasm memory's address range [start, end): 64-byte aligned blocks (a cache
 * line, and v128 alignment), freed blocks coalesced with their neighbours. It only does bookkeeping; the shard grows
 * the actual memory up to the highest address handed out.
 */
export const ALIGN = 64;

interface Span {
  off: number;
  size: number;
}

export class FreeList {
  readonly #free: Span[]; // sorted by offset, never adjacent
  readonly #used = new Map<number, number>(); // offset → size
  #top: number; // highest end address handed out so far

  constructor(start: number, end: number) {
    const s = alignUp(start);
    this.#free = end > s ? [{ off: s, size: end - s }] : [];
    this.#top = s;
  }

  /** First-fit allocation of `bytes` (rounded up to ALIGN); the offset, or undefined when no span is large enough. */
  alloc(bytes: number): number | undefined {
    const size = alignUp(Math.max(bytes, 1));
    const i = this.#free.findIndex((s) => s.size >= size);
    if (i < 0) return undefined;
    const span = this.#free[i]!;
    const off = span.off;
    if (span.size === size) this.#free.splice(i, 1);
    else {
      span.off += size;
      span.size -= size;
    }
    this.#used.set(off, size);
    this.#top = Math.max(this.#top, off + size);
    return off;
  }

  free(off: number): void {
    const size = this.#used.get(off);
    if (size === undefined) throw new Error(`FreeList.free: ${off} is not an allocated block`);
    this.#used.delete(off);
    let i = this.#free.findIndex((s) => s.off > off);
    if (i < 0) i = this.#free.length;
    this.#free.splice(i, 0, { off, size });
    const next = this.#free[i + 1];
    if (next && off + size === next.off) {
      this.#free[i]!.size += next.size;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.off + prev.size === off) {
      prev.size += this.#free[i]!.size;
      this.#free.splice(i, 1);
    }
  }

  /** Size of the largest free span. */
  largestFree(): number {
    return this.#free.reduce((m, s) => Math.max(m, s.size), 0);
  }

  /** Bytes currently allocated. */
  usedBytes(): number {
    let n = 0;
    for (const v of this.#used.values()) n += v;
    return n;
  }

  /** The highest address ever handed out (the memory must be at least this large). */
  get top(): number {
    return this.#top;
  }
}

export function alignUp(n: number, a = ALIGN): number {
  return Math.ceil(n / a) * a;
}
