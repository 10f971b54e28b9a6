/**
 * Block identities (layer 0 of the cache stack): tokens are cut into blocks of `BLOCK_TOKENS`; block i's hash is
 * SHA-256(hash_{i−1} ‖ block tokens as u32 LE), seeded by the namespace (model fingerprint + optional salt/tenant).
 * The same tokens under the same namespace give the same hashes in every tier, process and restart; two namespaces
 * never share a hash. A snapshot at an exact position p (possibly inside a block) is keyed by
 * SHA-256(hash of its ⌊p/16⌋ full blocks ‖ the tail tokens ‖ p).
 */
import { createHash } from 'node:crypto';

export const BLOCK_TOKENS = 16;

/** The namespace id: the model fingerprint plus an optional salt (tenant, adapter, cache salt). */
export function namespaceOf(fingerprint: string, salt = ''): string {
  return salt === '' ? fingerprint : `${fingerprint}#${salt}`;
}

function u32s(tokens: readonly number[], from: number, to: number): Buffer {
  const b = Buffer.allocUnsafe(4 * (to - from));
  for (let i = from; i < to; i++) b.writeUInt32LE(tokens[i]! >>> 0, 4 * (i - from));
  return b;
}

/** The seed hash of a namespace (the "hash" of zero blocks). */
export function rootHash(ns: string): string {
  return createHash('sha256').update('tandem-cache-v1\0').update(ns).digest('hex');
}

/** Chained hashes of the full blocks of `tokens` (at most `maxBlocks`): element i covers blocks 0..i. */
export function blockHashes(ns: string, tokens: readonly number[], maxBlocks = Infinity): string[] {
  const out: string[] = [];
  let prev = rootHash(ns);
  const n = Math.min(Math.floor(tokens.length / BLOCK_TOKENS), maxBlocks);
  for (let i = 0; i < n; i++) {
    prev = createHash('sha256').update(prev, 'hex').update(u32s(tokens, i * BLOCK_TOKENS, (i + 1) * BLOCK_TOKENS)).digest('hex');
    out.push(prev);
  }
  return out;
}

/** The hash of the first ⌊p/16⌋ full blocks given their chain (`hashes[b−1]`, or the root for b = 0). */
export function chainAt(ns: string, hashes: readonly string[], blocks: number): string {
  return blocks === 0 ? rootHash(ns) : hashes[blocks - 1]!;
}

/** The key of a snapshot at position `p` of `tokens` (the first p tokens). */
export function snapshotKey(ns: string, tokens: readonly number[], p: number): string {
  const blocks = Math.floor(p / BLOCK_TOKENS);
  const parent = chainAt(ns, blockHashes(ns, tokens, blocks), blocks);
  return snapshotKeyFrom(parent, tokens, blocks * BLOCK_TOKENS, p);
}

/** As `snapshotKey`, from the hash of the full blocks before `from`. */
export function snapshotKeyFrom(parent: string, tokens: readonly number[], from: number, p: number): string {
  return createHash('sha256').update(parent, 'hex').update(u32s(tokens, from, p)).update(`@${p}`).digest('hex');
}
