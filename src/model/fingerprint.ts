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

function hashBytes(h: Hash, b: Uint8Array): void {
  if (b.length <= WHOLE) {
    h.update(b);
    return;
  }
  const mid = Math.floor(b.length / 2);
  h.update(b.subarray(0, SAMPLE)).update(b.subarray(mid, mid + SAMPLE)).update(b.subarray(b.length - SAMPLE));
}

function hashValue(h: Hash, v: unknown): void {
  if (v instanceof Float32Array) {
    h.update(`f32[${v.length}]`);
    hashBytes(h, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  } else if (v && typeof v === 'object' && 'dtype' in v && 'data' in v) {
    const m = v as Matrix;
    h.update(`${m.dtype}[${m.rows},${m.cols}]`);
    hashBytes(h, m.data);
  } else if (Array.isArray(v)) {
    v.forEach((x) => hashValue(h, x));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      h.update(k);
      hashValue(h, x);
    }
  } else {
    h.update(String(v));
  }
}

export function modelFingerprint(cfg: ModelConfig, w: ModelWeights): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(cfg, (_k, v: unknown) => (v === Infinity ? 'inf' : v)));
  hashValue(h, w.embed);
  w.layers.forEach((l: LayerWeights) => hashValue(h, l));
  hashValue(h, w.normF);
  hashValue(h, w.lmHead);
  return h.digest('hex');
}
