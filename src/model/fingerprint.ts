/**
 * Model fingerprint: SHA-256 over the normalized config and every weight's format, shape and bytes (whole tensors up
 * to 64 KiB, otherwise 16 KiB samples from the start, middle and end), so a state is only restored into the model
 * that made it, and fingerprinting a multi-GB model stays cheap.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ModelConfig } from '../formats/config.js';
import type { LayerWeights, ModelWeights } from '../formats/weights.js';
import type { Matrix } from '../numerics/tensor.js';

const WHOLE = 64 * 1024;
const SAMPLE = 16 * 1024;

/** The bytes of `b` the fingerprint hashes (views): all of it up to 64 KiB, else 16 KiB at the start, middle and end. */
export function fingerprintPieces(b: Uint8Array): Uint8Array[] {
  if (b.length <= WHOLE) return [b];
  const mid = Math.floor(b.length / 2);
  return [b.subarray(0, SAMPLE), b.subarray(mid, mid + SAMPLE), b.subarray(b.length - SAMPLE)];
}

function hashBytes(h: Hash, b: Uint8Array): void {
  for (const p of fingerprintPieces(b)) h.update(p);
}

/** For matrices whose bytes now live in a backend's memory: their fingerprint pieces, taken before they moved. */
export type PiecesOf = (m: Matrix) => readonly Uint8Array[] | undefined;

function hashValue(h: Hash, v: unknown, pieces: PiecesOf): void {
  if (v instanceof Float32Array) {
    h.update(`f32[${v.length}]`);
    hashBytes(h, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } else if (v && typeof v === 'object' && 'dtype' in v && 'data' in v) {
    const m = v as Matrix;
    h.update(`${m.dtype}[${m.rows},${m.cols}]`);
    const kept = pieces(m);
    if (kept) for (const p of kept) h.update(p);
    else hashBytes(h, m.data);
  } else if (Array.isArray(v)) {
    v.forEach((x) => hashValue(h, x, pieces));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      h.update(k);
      hashValue(h, x, pieces);
    }
  } else {
    h.update(String(v));
  }
}

/** `pieces`: where a matrix's bytes were moved to a backend, the pieces kept for it (identical fingerprint). */
export function modelFingerprint(cfg: ModelConfig, w: ModelWeights, pieces: PiecesOf = () => undefined): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(cfg, (_k, v: unknown) => (v === Infinity ? 'inf' : v)));
  hashValue(h, w.embed, pieces);
  w.layers.forEach((l: LayerWeights) => hashValue(h, l, pieces));
  hashValue(h, w.normF, pieces);
  hashValue(h, w.lmHead, pieces);
  return h.digest('hex');
}
