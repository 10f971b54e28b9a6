/**
 * GGUF v3 header parsing (spec: ggml `docs/gguf.md`): magic, version, metadata key/values and tensor infos, with
 * bounds checks on every read. The header may be parsed from a prefix of the file: `parseGgufHeader` is told the
 * file's real size, and when the prefix ends before the header does it throws `HeaderNeedsMore` (an internal signal,
 * never seen by users) so the caller can read a longer prefix and try again. Everything malformed ends in a one-line
 * `TandemError`, never a RangeError.
 */
import { TandemError } from '../errors.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_SCALAR_BYTES,
  GGUF_VERSION,
  alignUp,
  ggufTypeOfCode,
  isNumericType,
  isValidAlignment,
  type GgufScalarType,
  type GgufValue,
} from './gguf-common.js';

export type Scalar = number | bigint | boolean | string;

export const corrupt = (message: string): TandemError => new TandemError('BAD_CHECKPOINT', message);
const utf8 = new TextDecoder('utf-8');

/** Thrown when the header runs past the prefix held in memory but not past the end of the file. */
export class HeaderNeedsMore extends Error {
  constructor(readonly bytes: number) {
    super(`GGUF header needs at least ${bytes} bytes`);
  }
}

/** Bounds-checked little-endian reader over (a prefix of) a GGUF file of `fileSize` bytes. */
class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly source: string,
    readonly fileSize: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes left in the file (not just in the prefix): what counts are checked against. */
  get remaining(): number {
    return this.fileSize - this.pos;
  }
  private take(n: number): number {
    const end = this.pos + n;
    if (end > this.fileSize) {
      throw corrupt(`${this.source} is truncated: header ends at byte ${end} but file has ${this.fileSize} bytes`);
    }
    if (end > this.buf.length) throw new HeaderNeedsMore(end);
    const at = this.pos;
    this.pos = end;
    return at;
  }
  u8(): number { return this.view.getUint8(this.take(1)); }
  i8(): number { return this.view.getInt8(this.take(1)); }
  u16(): number { return this.view.getUint16(this.take(2), true); }
  i16(): number { return this.view.getInt16(this.take(2), true); }
  u32(): number { return this.view.getUint32(this.take(4), true); }
  i32(): number { return this.view.getInt32(this.take(4), true); }
  f32(): number { return this.view.getFloat32(this.take(4), true); }
  f64(): number { return this.view.getFloat64(this.take(8), true); }
  u64(): bigint { return this.view.getBigUint64(this.take(8), true); }
  i64(): bigint { return this.view.getBigInt64(this.take(8), true); }

  /** A u64 that must be a safe JS integer; `what` names it in the error. */
  u64n(what: string): number {
    const at = this.pos;
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${this.source} is corrupt: ${what} at byte ${at} is ${v}`);
    return Number(v);
  }
  /** A u64 count of items each at least `minBytes` long, checked against the bytes left. */
  count(what: string, minBytes: number): number {
    const at = this.pos;
    const n = this.u64n(what);
    if (n * minBytes > this.remaining) {
      throw corrupt(
        `${this.source} is truncated or corrupt: ${what} at byte ${at} is ${n}, but only ${this.remaining} bytes follow`,
      );
    }
    return n;
  }
  str(what: string): string {
    const len = this.count(`length of ${what}`, 1);
    const at = this.take(len);
    return utf8.decode(this.buf.subarray(at, at + len));
  }
}

function readScalar(c: Cursor, type: GgufScalarType, what: string): Scalar {
  switch (type) {
    case 'u8': return c.u8();
    case 'i8': return c.i8();
    case 'u16': return c.u16();
    case 'i16': return c.i16();
    case 'u32': return c.u32();
    case 'i32': return c.i32();
    case 'f32': return c.f32();
    case 'f64': return c.f64();
    case 'u64': return c.u64();
    case 'i64': return c.i64();
    case 'string': return c.str(what);
    case 'bool': {
      const at = c.pos;
      const b = c.u8();
      if (b > 1) throw corrupt(`${c.source} is corrupt: ${what} at byte ${at} is a bool with value ${b} (not 0 or 1)`);
      return b === 1;
    }
  }
}

function readTypeCode(c: Cursor, what: string): GgufScalarType | 'array' {
  const at = c.pos;
  const code = c.u32();
  const t = ggufTypeOfCode(code);
  if (t === undefined) throw corrupt(`${c.source} is corrupt: ${what} at byte ${at} has unknown value type ${code}`);
  return t;
}

function readValue(c: Cursor, key: string): GgufValue {
  const what = `metadata "${key}"`;
  const type = readTypeCode(c, what);
  if (type !== 'array') return { type, value: readScalar(c, type, what) };
  const itemType = readTypeCode(c, `${what} (array item type)`);
  if (itemType === 'array') {
    throw new TandemError('UNSUPPORTED', `${c.source}: ${what} is an array of arrays, which Tandem cannot read`);
  }
  const n = c.count(`${what} array length`, GGUF_SCALAR_BYTES[itemType] ?? 8);
  const values: Scalar[] = new Array<Scalar>(n);
  for (let i = 0; i < n; i++) values[i] = readScalar(c, itemType, `${what}[${i}]`);
  return { type: 'array', itemType, values };
}

function checkMagic(buf: Uint8Array, source: string, fileSize: number): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length >= 4 && view.getUint32(0, true) === GGUF_MAGIC) return;
  if (fileSize === 0) throw corrupt(`${source} is empty (0 bytes); expected a .gguf file`);
  const head = buf.subarray(0, 8);
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  if (fileSize < 4 && 'GGUF'.startsWith(text)) {
    throw corrupt(`${source} is truncated: header ends at byte 4 but file has ${fileSize} bytes`);
  }
  const hint = buf[8] === 0x7b ? ' (it looks like a safetensors file)' : '';
  throw corrupt(`${source} is not a GGUF file: it starts with bytes ${hex} ("${text}")${hint}; expected a .gguf file`);
}

function checkVersion(version: number, source: string): void {
  if (version === GGUF_VERSION) return;
  if (version === 0x03000000) {
    throw new TandemError('UNSUPPORTED', `${source} is a big-endian GGUF file; Tandem reads little-endian GGUF v3 only`);
  }
  const old = version === 1 || version === 2 ? ` (GGUF v${version} is an older revision; re-convert the model with a current llama.cpp)` : '';
  throw new TandemError('UNSUPPORTED', `${source} is GGUF version ${version}${old}; Tandem reads GGUF v3 only`);
}

function readMetadata(c: Cursor, n: number): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < n; i++) {
    const key = c.str(`metadata key #${i}`);
    if (metadata.has(key)) throw corrupt(`${c.source} is corrupt: duplicate metadata key "${key}"`);
    metadata.set(key, readValue(c, key));
  }
  return metadata;
}

/** "u32 7", "an array of i32 (4 items)": a value as error messages show it. */
export function describe(v: GgufValue): string {
  return v.type === 'array' ? `an array of ${v.itemType} (${v.values.length} items)` : `${v.type} ${String(v.value)}`;
}

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>, source: string): number {
  const v = metadata.get('general.alignment');
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = v.type !== 'array' && isNumericType(v.type) ? Number(v.value) : NaN;
  if (!isValidAlignment(a)) {
    throw corrupt(`${source} is corrupt: "general.alignment" must be a power-of-two integer, got ${describe(v)}`);
  }
  return a;
}

export interface TensorInfo {
  readonly name: string;
  /** Dimensions in ggml order (innermost first). */
  readonly ne: readonly number[];
  readonly typeId: number;
  /** Byte offset relative to the start of the data section. */
  readonly offset: number;
}

function readTensorInfo(c: Cursor, index: number): TensorInfo {
  const name = c.str(`name of tensor #${index}`);
  const where = `tensor "${name}"`;
  const nDims = c.u32();
  if (nDims > GGUF_MAX_DIMS) {
    throw corrupt(`${c.source} is corrupt: ${where} has ${nDims} dims (GGUF allows at most ${GGUF_MAX_DIMS})`);
  }
  const ne: number[] = [];
  let count = 1;
  for (let d = 0; d < nDims; d++) {
    const n = c.u64n(`dim ${d} of ${where}`);
    if (n === 0) throw corrupt(`${c.source} is corrupt: ${where} has a zero-sized dim (ne[${d}] = 0)`);
    count *= n;
    if (!Number.isSafeInteger(count)) throw corrupt(`${c.source} is corrupt: ${where} has too many elements`);
    ne.push(n);
  }
  const typeId = c.u32();
  const offset = c.u64n(`data offset of ${where}`);
  return { name, ne, typeId, offset };
}

// Smallest possible encodings, used to reject absurd counts before looping: a metadata entry is a key length (8),
// a value type (4) and at least one byte; a tensor info is a name length (8), n_dims (4), type (4) and offset (8).
const MIN_KV_BYTES = 13;
const MIN_TENSOR_INFO_BYTES = 24;

export interface GgufHeader {
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos in file order. */
  readonly infos: readonly TensorInfo[];
  /** Absolute byte offset of the data section (the end of the header, aligned). */
  readonly dataStart: number;
}

/**
 * Parses the header from `buf`, which holds the first `buf.length` bytes of a file of `fileSize` bytes (the whole
 * file when equal). Throws `HeaderNeedsMore` when `buf` ends inside the header but the file does not.
 */
export function parseGgufHeader(buf: Uint8Array, source: string, fileSize: number = buf.length): GgufHeader {
  checkMagic(buf, source, fileSize);
  const c = new Cursor(buf, source, fileSize);
  c.pos = 4;
  const version = c.u32();
  checkVersion(version, source);
  const tensorCount = c.count('tensor count', MIN_TENSOR_INFO_BYTES);
  const kvCount = c.count('metadata entry count', MIN_KV_BYTES);
  if (tensorCount * MIN_TENSOR_INFO_BYTES + kvCount * MIN_KV_BYTES > c.remaining) {
    throw corrupt(
      `${source} is truncated or corrupt: header claims ${kvCount} metadata entries and ${tensorCount} tensors, which cannot fit in the ${c.remaining} bytes that follow`,
    );
  }
  const metadata = readMetadata(c, kvCount);
  const alignment = alignmentOf(metadata, source);
  const infos: TensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const info = readTensorInfo(c, i);
    if (seen.has(info.name)) throw corrupt(`${source} is corrupt: duplicate tensor name "${info.name}"`);
    seen.add(info.name);
    infos.push(info);
  }
  return { version, alignment, metadata, infos, dataStart: alignUp(c.pos, alignment) };
}
