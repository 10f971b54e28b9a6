/**
 * Sequence-state byte format, version 1 (little-endian):
 *
 *   0   8 B   magic "TNDMSTAT"
 *   8   u32   format version (1)
 *   12  u32   header length L
 *   16  L B   header, UTF-8 JSON: { model, tokens, layers: ["mamba2"|"attention"|"none", …], kvDim, kvHeads, conv, ssm,
 *             kv: "f32"|"fp8", ssmFormat: "f32"|"bf16" }
 *       pad   zero bytes up to a multiple of 4
 *       u32 × tokens                      token ids
 *       per layer, in order:
 *         mamba2    → conv f32[conv], ssm f32[ssm] (or bf16 u16[ssm])
 *         attention → f32: k f32[tokens·kvDim], v f32[same];
 *                     fp8: k u8[tokens·kvDim], v u8[same], kScale f32[tokens·kvHeads], vScale f32[same]
 *   end 32 B  SHA-256 of every byte before it
 *
 * A blob from another model (fingerprint), another layout, another version, or with any flipped or missing byte is
 * refused with a BAD_STATE error; nothing is half-restored.
 */
import { createHash } from 'node:crypto';
import { TandemError } from '../errors.js';
import type { ModelConfig } from '../formats/config.js';
import { createState, kvDim, type SequenceState, type StateFormat } from './state.js';

const MAGIC = 'TNDMSTAT';
export const STATE_FORMAT_VERSION = 1;
const HASH_BYTES = 32;

interface Header {
  readonly model: string;
  readonly tokens: number;
  readonly layers: readonly string[];
  readonly kvDim: number;
  readonly kvHeads: number;
  readonly conv: number;
  readonly ssm: number;
  readonly kv: StateFormat['kv'];
  readonly ssmFormat: StateFormat['ssm'];
  /** KV rows [0, kvFrom) are not in the blob (the context cache keeps them in shared 16-token blocks); absent = 0. */
  readonly kvFrom?: number;
}

function formatOf(s: SequenceState): StateFormat {
  const kvl = s.layers.find((l) => l.kind === 'attention');
  const ml = s.layers.find((l) => l.kind === 'mamba2');
  return { kv: kvl?.kind === 'attention' ? kvl.format : 'f32', ssm: ml?.kind === 'mamba2' ? ml.ssmFormat : 'f32' };
}

function headerOf(cfg: ModelConfig, s: SequenceState, format: StateFormat): Header {
  const m = cfg.mamba;
  return {
    model: s.model, tokens: s.tokens.length, layers: s.layers.map((l) => l.kind), kvDim: kvDim(cfg), kvHeads: cfg.attention.numKvHeads,
    conv: (m.convKernel - 1) * m.convDim, ssm: m.numHeads * m.headDim * m.stateSize, kv: format.kv, ssmFormat: format.ssm,
  };
}

function payloadBytes(h: Header): number {
  const mamba = 4 * h.conv + (h.ssmFormat === 'bf16' ? 2 : 4) * h.ssm;
  const rows = h.tokens - (h.kvFrom ?? 0);
  const attn = h.kv === 'fp8' ? 2 * rows * (h.kvDim + 4 * h.kvHeads) : 8 * rows * h.kvDim;
  let n = 0;
  for (const kind of h.layers) n += kind === 'mamba2' ? mamba : kind === 'attention' ? attn : 0;
  return n;
}

/** Sequential little-endian writer/reader over one DataView. */
class Cursor {
  constructor(readonly dv: DataView, public off: number) {}
  putF32(a: Float32Array, n: number): void {
    for (let i = 0; i < n; i++) this.dv.setFloat32(this.off + 4 * i, a[i]!, true);
    this.off += 4 * n;
  }
  putU16(a: Uint16Array, n: number): void {
    for (let i = 0; i < n; i++) this.dv.setUint16(this.off + 2 * i, a[i]!, true);
    this.off += 2 * n;
  }
  putU8(a: Uint8Array, n: number): void {
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + this.off, n).set(a.subarray(0, n));
    this.off += n;
  }
  f32(n: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.dv.getFloat32(this.off + 4 * i, true);
    this.off += 4 * n;
    return a;
  }
  u16(n: number): Uint16Array {
    const a = new Uint16Array(n);
    for (let i = 0; i < n; i++) a[i] = this.dv.getUint16(this.off + 2 * i, true);
    this.off += 2 * n;
    return a;
  }
  u8(n: number): Uint8Array {
    const a = new Uint8Array(this.dv.buffer.slice(this.dv.byteOffset + this.off, this.dv.byteOffset + this.off + n));
    this.off += n;
    return a;
  }
}

export interface SerializeOptions {
  /** Leave out the KV rows before this position (0 = a complete state; the context cache stores them per block). */
  readonly kvFrom?: number;
}

export function serializeState(cfg: ModelConfig, s: SequenceState, opts: SerializeOptions = {}): Uint8Array {
  const kvFrom = opts.kvFrom ?? 0;
  if (!Number.isInteger(kvFrom) || kvFrom < 0 || kvFrom > s.tokens.length) throw new RangeError(`kvFrom ${kvFrom} outside [0, ${s.tokens.length}]`);
  const h: Header = kvFrom > 0 ? { ...headerOf(cfg, s, formatOf(s)), kvFrom } : headerOf(cfg, s, formatOf(s));
  const json = new TextEncoder().encode(JSON.stringify(h));
  const tokOff = Math.ceil((16 + json.length) / 4) * 4;
  const dataOff = tokOff + 4 * h.tokens;
  const buf = new Uint8Array(dataOff + payloadBytes(h) + HASH_BYTES);
  const dv = new DataView(buf.buffer);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  dv.setUint32(8, STATE_FORMAT_VERSION, true);
  dv.setUint32(12, json.length, true);
  buf.set(json, 16);
  s.tokens.forEach((t, i) => dv.setUint32(tokOff + 4 * i, t, true));
  const c = new Cursor(dv, dataOff);
  const rows = h.tokens - kvFrom;
  const kvN = rows * h.kvDim;
  const scN = rows * h.kvHeads;
  const kvAt = kvFrom * h.kvDim;
  const scAt = kvFrom * h.kvHeads;
  for (const l of s.layers) {
    if (l.kind === 'mamba2') {
      c.putF32(l.conv, h.conv);
      if (l.ssmFormat === 'bf16') c.putU16(l.ssm, h.ssm);
      else c.putF32(l.ssm, h.ssm);
    } else if (l.kind === 'attention' && l.format === 'fp8') {
      c.putU8(l.k.subarray(kvAt), kvN);
      c.putU8(l.v.subarray(kvAt), kvN);
      c.putF32(l.kScale.subarray(scAt), scN);
      c.putF32(l.vScale.subarray(scAt), scN);
    } else if (l.kind === 'attention') {
      c.putF32(l.k.subarray(kvAt), kvN);
      c.putF32(l.v.subarray(kvAt), kvN);
    }
  }
  buf.set(createHash('sha256').update(buf.subarray(0, c.off)).digest(), c.off);
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
  const { state, kvFrom } = deserializeStatePart(cfg, fingerprint, buf);
  if (kvFrom !== 0) throw refuse(`it holds KV rows from position ${kvFrom} only (a context-cache part, not a whole state)`);
  return state;
}

/**
 * As `deserializeState`, also accepting blobs written with `kvFrom` > 0: KV rows [0, kvFrom) of the returned state
 * are zero and must be filled by the caller (the context cache, from its KV blocks) before the state is used.
 */
export function deserializeStatePart(cfg: ModelConfig, fingerprint: string, buf: Uint8Array): { state: SequenceState; kvFrom: number } {
  const { h, tokOff } = readHeader(buf);
  if (h.model !== fingerprint) throw refuse(`it was made by another model (fingerprint ${String(h.model).slice(0, 12)}…, this model is ${fingerprint.slice(0, 12)}…)`);
  if ((h.kv !== 'f32' && h.kv !== 'fp8') || (h.ssmFormat !== 'f32' && h.ssmFormat !== 'bf16')) throw refuse('unknown KV or SSM storage format');
  const fresh = createState(cfg, fingerprint, { kv: h.kv, ssm: h.ssmFormat });
  const want = headerOf(cfg, fresh, { kv: h.kv, ssm: h.ssmFormat });
  if (JSON.stringify(h.layers) !== JSON.stringify(want.layers) || h.kvDim !== want.kvDim || h.kvHeads !== want.kvHeads || h.conv !== want.conv || h.ssm !== want.ssm) {
    throw refuse('its layer layout does not match this model');
  }
  if (!Number.isInteger(h.tokens) || h.tokens < 0 || h.tokens > cfg.maxPositions) throw refuse(`token count ${h.tokens} is invalid`);
  const kvFrom = h.kvFrom ?? 0;
  if (!Number.isInteger(kvFrom) || kvFrom < 0 || kvFrom > h.tokens) throw refuse(`kvFrom ${String(kvFrom)} is invalid`);
  const dataOff = tokOff + 4 * h.tokens;
  if (dataOff + payloadBytes(h) + HASH_BYTES !== buf.length) throw refuse('its size does not match its header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < h.tokens; i++) fresh.tokens.push(dv.getUint32(tokOff + 4 * i, true));
  const c = new Cursor(dv, dataOff);
  const rows = h.tokens - kvFrom;
  const kvN = rows * h.kvDim;
  const scN = rows * h.kvHeads;
  const withHead = <T extends Float32Array | Uint8Array>(part: T, per: number): T => {
    if (kvFrom === 0) return part;
    const full = (part instanceof Float32Array ? new Float32Array(h.tokens * per) : new Uint8Array(h.tokens * per)) as T;
    full.set(part, kvFrom * per);
    return full;
  };
  fresh.layers.forEach((l, i) => {
    if (l.kind === 'mamba2') {
      l.conv.set(c.f32(h.conv));
      if (l.ssmFormat === 'bf16') l.ssm.set(c.u16(h.ssm));
      else l.ssm.set(c.f32(h.ssm));
    } else if (l.kind === 'attention' && l.format === 'fp8') {
      fresh.layers[i] = {
        kind: 'attention', format: 'fp8', k: withHead(c.u8(kvN), h.kvDim), v: withHead(c.u8(kvN), h.kvDim),
        kScale: withHead(c.f32(scN), h.kvHeads), vScale: withHead(c.f32(scN), h.kvHeads),
      };
    } else if (l.kind === 'attention') {
      fresh.layers[i] = { kind: 'attention', format: 'f32', k: withHead(c.f32(kvN), h.kvDim), v: withHead(c.f32(kvN), h.kvDim) };
    }
  });
  return { state: fresh, kvFrom };
}
