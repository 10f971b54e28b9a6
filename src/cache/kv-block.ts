/**
 * Attention KV in shared 16-token blocks (layer 2 payload). Block b of a sequence holds, for every attention layer
 * in order, the K and V rows of positions [16b, 16b + 16) — and for an FP8 cache their per-token, per-KV-head
 * scales. A block is keyed by its chained block hash (block-hash.ts), so every snapshot, request and worker whose
 * prompt shares the first 16(b + 1) tokens shares the block; snapshots then only carry the Mamba state plus the KV
 * tail after their last full block (state-codec `kvFrom`).
 *
 * Byte format (little-endian): "TNDMKVB1", u32 format (0 = f32, 1 = fp8), u32 attention layers, u32 kvDim,
 * u32 kvHeads, payload, 32-byte SHA-256 of everything before it. A block that fails any check is refused (a miss).
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { ModelConfig } from '../formats/config.js';
import { kvDim, type KvState, type SequenceState } from '../model/state.js';
import { BLOCK_TOKENS } from './block-hash.js';

const MAGIC = Buffer.from('TNDMKVB1');
const HEAD = 24;
const HASH = 32;

if (endianness() !== 'LE') throw new Error('the context cache stores KV blocks little-endian; this platform is big-endian');

function attentionLayers(s: SequenceState): KvState[] {
  return s.layers.filter((l): l is KvState => l.kind === 'attention');
}

/** Payload bytes of one block for one layer. */
function layerBytes(format: KvState['format'], dim: number, heads: number): number {
  return format === 'fp8' ? 2 * BLOCK_TOKENS * (dim + 4 * heads) : 8 * BLOCK_TOKENS * dim;
}

function bytesOf(a: Float32Array | Uint8Array, from: number, n: number): Uint8Array {
  const w = a.BYTES_PER_ELEMENT;
  return new Uint8Array(a.buffer, a.byteOffset + from * w, n * w);
}

/** The arrays of one layer with the element count per token of each (K, V, then FP8 scales). */
function parts(l: KvState, dim: number, heads: number): [Float32Array | Uint8Array, number][] {
  return l.format === 'fp8' ? [[l.k, dim], [l.v, dim], [l.kScale, heads], [l.vScale, heads]] : [[l.k, dim], [l.v, dim]];
}

/** Encode block `b` (positions [16b, 16b + 16), all inside `state.tokens`) of every attention layer. */
export function encodeKvBlock(cfg: ModelConfig, state: SequenceState, b: number): Uint8Array {
  if ((b + 1) * BLOCK_TOKENS > state.tokens.length) throw new RangeError(`block ${b} is not complete in a ${state.tokens.length}-token state`);
  const layers = attentionLayers(state);
  const dim = kvDim(cfg);
  const heads = cfg.attention.numKvHeads;
  const format = layers[0]?.format ?? 'f32';
  const buf = Buffer.alloc(HEAD + layers.length * layerBytes(format, dim, heads) + HASH);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(format === 'fp8' ? 1 : 0, 8);
  buf.writeUInt32LE(layers.length, 12);
  buf.writeUInt32LE(dim, 16);
  buf.writeUInt32LE(heads, 20);
  let off = HEAD;
  for (const l of layers) {
    for (const [a, per] of parts(l, dim, heads)) {
      const src = bytesOf(a, b * BLOCK_TOKENS * per, BLOCK_TOKENS * per);
      buf.set(src, off);
      off += src.length;
    }
  }
  createHash('sha256').update(buf.subarray(0, off)).digest().copy(buf, off);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Write block `b` into `state` (whose KV arrays already hold ≥ 16(b + 1) rows). Returns false, touching nothing,
 * when the bytes are corrupt or do not fit this model and KV format.
 */
export function applyKvBlock(cfg: ModelConfig, state: SequenceState, b: number, bytes: Uint8Array): boolean {
  const layers = attentionLayers(state);
  const dim = kvDim(cfg);
  const heads = cfg.attention.numKvHeads;
  const format = layers[0]?.format ?? 'f32';
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const want = HEAD + layers.length * layerBytes(format, dim, heads) + HASH;
  if (buf.length !== want || !buf.subarray(0, 8).equals(MAGIC)) return false;
  if (buf.readUInt32LE(8) !== (format === 'fp8' ? 1 : 0) || buf.readUInt32LE(12) !== layers.length || buf.readUInt32LE(16) !== dim || buf.readUInt32LE(20) !== heads) return false;
  const digest = createHash('sha256').update(buf.subarray(0, want - HASH)).digest();
  if (!digest.equals(buf.subarray(want - HASH))) return false;
  if (layers.some((l) => parts(l, dim, heads).some(([a, per]) => a.length < (b + 1) * BLOCK_TOKENS * per))) return false;
  let off = HEAD;
  for (const l of layers) {
    for (const [a, per] of parts(l, dim, heads)) {
      const dst = bytesOf(a, b * BLOCK_TOKENS * per, BLOCK_TOKENS * per);
      dst.set(buf.subarray(off, off + dst.length));
      off += dst.length;
    }
  }
  return true;
}
