/**
 * The prefix index (layer 1): a pure data structure, no model, no I/O. A trie whose edges are 16-token blocks,
 * one root per namespace, nodes keyed by their chained block hash (block-hash.ts). It records where state
 * snapshots exist: a snapshot at position p hangs off the node of its ⌊p/16⌋ full blocks with the tail tokens
 * p − 16⌊p/16⌋ (so end-of-prompt / end-of-turn positions inside a block are exact).
 *
 * `lookup(ns, tokens)` returns every snapshot whose prefix equals tokens[0, p) with p ≤ tokens.length − 1 (the
 * last prompt token is always recomputed, so its logits exist), deepest first: a prompt that diverges inside a
 * snapshot interval gets the last valid snapshot before the divergence; the caller falls back along the list
 * when a tier no longer holds an entry.
 */
import { BLOCK_TOKENS, blockHashes, rootHash, snapshotKeyFrom } from './block-hash.js';

export interface SnapshotRef {
  /** Tokens covered by the snapshot: its state is the state after tokens[0, position). */
  readonly position: number;
  /** The snapshot key (tier key; block-hash.ts `snapshotKey`). */
  readonly key: string;
}

interface Snap extends SnapshotRef {
  readonly tail: readonly number[];
}

interface Node {
  readonly hash: string;
  readonly parent: Node | undefined;
  readonly ns: string;
  readonly kids: Set<Node>;
  readonly snaps: Snap[];
}

export class PrefixIndex {
  readonly #nodes = new Map<string, Node>();
  readonly #byKey = new Map<string, { node: Node; snap: Snap }>();

  /** Snapshots recorded. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Trie nodes (blocks) alive, roots included. */
  get nodes(): number {
    return this.#nodes.size;
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Record a snapshot of tokens[0, p) (1 ≤ p ≤ tokens.length); returns its key. Idempotent. */
  insert(ns: string, tokens: readonly number[], p: number): string {
    if (!Number.isInteger(p) || p < 1 || p > tokens.length) throw new RangeError(`snapshot position ${p} outside [1, ${tokens.length}]`);
    const blocks = Math.floor(p / BLOCK_TOKENS);
    const hashes = blockHashes(ns, tokens, blocks);
    let node = this.#node(ns, rootHash(ns), undefined);
    for (const h of hashes) node = this.#node(ns, h, node);
    const from = blocks * BLOCK_TOKENS;
    const key = snapshotKeyFrom(node.hash, tokens, from, p);
    if (this.#byKey.has(key)) return key;
    const snap: Snap = { position: p, key, tail: tokens.slice(from, p) };
    node.snaps.push(snap);
    this.#byKey.set(key, { node, snap });
    return key;
  }

  /** Snapshots usable for `tokens` (prefix equal, position ≤ length − 1), deepest first. */
  lookup(ns: string, tokens: readonly number[]): SnapshotRef[] {
    const limit = tokens.length - 1;
    if (limit < 1) return [];
    const found: SnapshotRef[] = [];
    let node = this.#nodes.get(rootHash(ns));
    const hashes = blockHashes(ns, tokens, Math.floor(limit / BLOCK_TOKENS));
    for (let b = 0; node; b++) {
      const from = b * BLOCK_TOKENS;
      for (const s of node.snaps) {
        if (s.position <= limit && s.tail.every((t, i) => tokens[from + i] === t)) found.push({ position: s.position, key: s.key });
      }
      const next = hashes[b];
      node = next === undefined ? undefined : this.#nodes.get(next);
    }
    return found.sort((a, b) => b.position - a.position);
  }

  /** Forget a snapshot (evicted from every tier, or found corrupt); prunes empty blocks. */
  remove(key: string): boolean {
    const at = this.#byKey.get(key);
    if (!at) return false;
    this.#byKey.delete(key);
    const { node, snap } = at;
    node.snaps.splice(node.snaps.indexOf(snap), 1);
    for (let n: Node | undefined = node; n && n.snaps.length === 0 && n.kids.size === 0; n = n.parent) {
      this.#nodes.delete(n.hash);
      n.parent?.kids.delete(n);
    }
    return true;
  }

  /** Keys of the snapshots that need the KV block with chained hash `hash` (those on its node or below). */
  dependents(hash: string): string[] {
    const start = this.#nodes.get(hash);
    if (!start) return [];
    const out: string[] = [];
    const stack = [start];
    for (let n = stack.pop(); n; n = stack.pop()) {
      for (const s of n.snaps) out.push(s.key);
      stack.push(...n.kids);
    }
    return out;
  }

  /** Snapshot count per namespace. */
  namespaces(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { node } of this.#byKey.values()) out.set(node.ns, (out.get(node.ns) ?? 0) + 1);
    return out;
  }

  #node(ns: string, hash: string, parent: Node | undefined): Node {
    let n = this.#nodes.get(hash);
    if (!n) {
      n = { hash, parent, ns, kids: new Set(), snaps: [] };
      this.#nodes.set(hash, n);
      parent?.kids.add(n);
    }
    return n;
  }
}
