/**
 * Sequence-state byte format, version 1 (little-endian):
 *
 *   0   8 B   magic "TNDMSTAT"
 *   8   u32   format version (1)
 *   12  u32   header length L
 *   16  L B   header, UTF-8 JSON: { model, tokens, layers: ["mamba2"|"attention"|"none", …], kvDim, conv, ssm }
 *       pad   zero bytes up to a multiple of 4
 *       u32 × tokens                      token ids
 *       per layer, in order: mamba2 → conv f32[conv], ssm f32[ssm]; attention → k f32[tokens·kvDim], v f32[same]
 *   end 32 B  SHA-256 of every byte before it
 *
 * A blob from another model (fingerprint), another layout, another version, or with any flipped or missing byte is
 * refused with a BAD_STATE error; nothing is half-restored.
 */
import { createHash } from 'node:crypto';
import { TandemError } from '../errors.js';
import type { ModelConfig } from '../formats/config.js';
import { createState, kvDim, type SequenceState } from './state.js';

const MAGIC = 'TNDMSTAT';
export const STATE_FORMAT_VERSION = 1;
const HASH_BYTES = 32;

interface Header {
  readonly model: string;
  readonly tokens: number;
  readonly layers: readonly string[];
  readonly kvDim: number;
  readonly conv: number;
  readonly ssm: number;
}

function headerOf(cfg: ModelConfig, s: SequenceState): Header {
  const m = cfg.mamba;
  return {
    model: s.model, tokens: s.tokens.length, layers: s.layers.map((l) => l.kind), kvDim: kvDim(cfg),
    conv: (m.convKernel - 1) * m.convDim, ssm: m.numHeads * m.headDim * m.stateSize,
  };
}

function payloadFloats(h: Header): number {
  let n = 0;
  for (const kind of h.layers) n += kind === 'mamba2' ? h.conv + h.ssm : kind === 'attention' ? 2 * h.tokens * h.kvDim : 0;
  return n;
}

export function serializeState(cfg: ModelConfig, s: SequenceState): Uint8Array {
  const h = headerOf(cfg, s);
  const json = new TextEncoder().encode(JSON.stringify(h));
  const headEnd = 16 + json.length;
  const tokOff = Math.ceil(headEnd / 4) * 4;
  const dataOff = tokOff + 4 * h.tokens;
  const total = dataOff + 4 * payloadFloats(h) + HASH_BYTES;
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, STATE_FORMAT_VERSION, true);
  dv.setUint32(12, json.length, true);
  buf.set(json, 16);
  s.tokens.forEach((t, i) => dv.setUint32(tokOff + 4 * i, t, true));
  let off = dataOff;
  const put = (a: Float32Array, n: number): void => {
    for (let i = 0; i < n; i++) dv.setFloat32(off + 4 * i, a[i]!, true);
    off += 4 * n;
  };
  for (const l of s.layers) {
    if (l.kind === 'mamba2') {
      put(l.conv, h.conv);
      put(l.ssm, h.ssm);
    } else if (l.kind === 'attention') {
      put(l.k, h.tokens * h.kvDim);
      put(l.v, h.tokens * h.kvDim);
    }
  }
  buf.set(createHash('sha256').update(buf.subarray(0, off)).digest(), off);
  return buf;
}

const refuse = (why: string): TandemError => new TandemError('BAD_STATE', `sequence state refused: ${why}`);

function readHeader(buf: Uint8Array): { h: Header; tokOff: number } {
  if (buf.length < 16 + HASH_BYTES || new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) {
    throw refuse('not a Tandem sequence-state blob (bad magic or too short)');
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== STATE_FORMAT_VERSION) throw refuse(`format version ${version}, this Tandem reads version ${STATE_FORMAT_VERSION}`);
  const digest = createHash('sha256').update(buf.subarray(0, buf.length - HASH_BYTES)).digest();
  if (!digest.equals(buf.subarray(buf.length - HASH_BYTES))) throw refuse('checksum mismatch (the blob is corrupt or truncated)');
  const len = dv.getUint32(12, true);
  if (16 + len > buf.length - HASH_BYTES) throw refuse('header length exceeds the blob');
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(buf.subarray(16, 16 + len))) as Header;
  } catch {
    throw refuse('header is not valid JSON');
  }
  return { h, tokOff: Math.ceil((16 + len) / 4) * 4 };
}

/** Restore a state serialized by `serializeState`, checking it belongs to this model (`fingerprint`). */
export function deserializeState(cfg: ModelConfig, fingerprint: string, buf: Uint8Array): SequenceState {
  const { h, tokOff } = readHeader(buf);
  if (h.model !== fingerprint) throw refuse(`it was made by another model (fingerprint ${String(h.model).slice(0, 12)}…, this model is ${fingerprint.slice(0, 12)}…)`);
  const fresh = createState(cfg, fingerprint);
  const want = headerOf(cfg, fresh);
  if (JSON.stringify(h.layers) !== JSON.stringify(want.layers) || h.kvDim !== want.kvDim || h.conv !== want.conv || h.ssm !== want.ssm) {
    throw refuse('its layer layout does not match this model');
  }
  if (!Number.isInteger(h.tokens) || h.tokens < 0 || h.tokens > cfg.maxPositions) throw refuse(`token count ${h.tokens} is invalid`);
  const dataOff = tokOff + 4 * h.tokens;
  if (dataOff + 4 * payloadFloats(h) + HASH_BYTES !== buf.length) throw refuse('its size does not match its header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < h.tokens; i++) fresh.tokens.push(dv.getUint32(tokOff + 4 * i, true));
  let off = dataOff;
  const take = (n: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = dv.getFloat32(off + 4 * i, true);
    off += 4 * n;
    return a;
  };
  fresh.layers.forEach((l, i) => {
    if (l.kind === 'mamba2') {
      l.conv.set(take(h.conv));
      l.ssm.set(take(h.ssm));
    } else if (l.kind === 'attention') {
      fresh.layers[i] = { kind: 'attention', k: take(h.tokens * h.kvDim), v: take(h.tokens * h.kvDim) };
    }
  });
  return fresh;
}
