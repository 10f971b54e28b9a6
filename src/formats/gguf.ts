/**
 * GGUF v3 reader (spec: ggml `docs/gguf.md`). `parseGguf` walks the header with bounds checks on every read and
 * hands out tensors as zero-copy views into the file's bytes, with shapes reversed from ggml `ne` order (innermost
 * first) to PyTorch order. Every malformed input ends in a one-line `TandemError`, never a RangeError.
 * The writer lives in `gguf-writer.ts` and is re-exported here.
 */
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { TandemError } from '../errors.js';
import { DTYPE_LAYOUT, tensorBytes } from '../numerics/tensor.js';
import type { RawTensor } from './raw-tensor.js';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_SCALAR_BYTES,
  GGUF_VERSION,
  alignUp,
  dtypeOfGgmlType,
  ggmlTypeName,
  ggufTypeOfCode,
  isNumericType,
  isValidAlignment,
  type GgufScalarType,
  type GgufValue,
} from './gguf-common.js';

export type { GgufScalarType, GgufTensorToWrite, GgufValue } from './gguf-common.js';
export { ggmlTypeName } from './gguf-common.js';
export { encodeGguf, writeGguf } from './gguf-writer.js';

export interface GgufFile {
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Shape in PyTorch order (reversed `ne`); `data` is a zero-copy view into the parsed buffer. */
  readonly tensors: ReadonlyMap<string, RawTensor>;
  /** Tensor names in file order. */
  readonly tensorOrder: readonly string[];
  /** File name used in error messages (set by `parseGguf`). */
  readonly source?: string;
}

type Scalar = number | bigint | boolean | string;

const corrupt = (message: string): TandemError => new TandemError('BAD_CHECKPOINT', message);
const utf8 = new TextDecoder('utf-8');

/** Bounds-checked little-endian reader over the header. */
class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(
    readonly buf: Uint8Array,
    readonly source: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }
  private take(n: number): number {
    if (this.pos + n > this.buf.length) {
      throw corrupt(`${this.source} is truncated: header ends at byte ${this.pos + n} but file has ${this.buf.length} bytes`);
    }
    const at = this.pos;
    this.pos += n;
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

function checkMagic(buf: Uint8Array, source: string): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length >= 4 && view.getUint32(0, true) === GGUF_MAGIC) return;
  if (buf.length === 0) throw corrupt(`${source} is empty (0 bytes); expected a .gguf file`);
  const head = buf.subarray(0, 8);
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  if (buf.length < 4 && 'GGUF'.startsWith(text)) {
    throw corrupt(`${source} is truncated: header ends at byte 4 but file has ${buf.length} bytes`);
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

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>, source: string): number {
  const v = metadata.get('general.alignment');
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const a = v.type !== 'array' && isNumericType(v.type) ? Number(v.value) : NaN;
  if (!isValidAlignment(a)) {
    throw corrupt(`${source} is corrupt: "general.alignment" must be a power-of-two integer, got ${describe(v)}`);
  }
  return a;
}

interface TensorInfo {
  readonly name: string;
  readonly ne: readonly number[];
  readonly typeId: number;
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

/** Turns a tensor info into a zero-copy RawTensor, checking type, block size, alignment and bounds. */
function placeTensor(buf: Uint8Array, source: string, info: TensorInfo, dataStart: number, alignment: number): RawTensor {
  const { name, ne, typeId, offset } = info;
  const dtype = dtypeOfGgmlType(typeId);
  if (dtype === undefined) {
    const typeName = ggmlTypeName(typeId);
    const desc = typeName === 'unknown' ? `an unknown ggml type (id ${typeId})` : `ggml type ${typeName} (id ${typeId})`;
    throw new TandemError(
      'UNSUPPORTED',
      `${source}: tensor "${name}" has ${desc}, which Tandem cannot read yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, MXFP4, NVFP4, I8, I32)`,
    );
  }
  const { blockSize } = DTYPE_LAYOUT[dtype];
  const inner = ne[0] ?? 1;
  if (inner % blockSize !== 0) {
    throw corrupt(
      `${source} is corrupt: tensor "${name}" has row length ne[0] = ${inner}, not a multiple of the ${ggmlTypeName(typeId)} block size ${blockSize}`,
    );
  }
  if (offset % alignment !== 0) {
    throw corrupt(`${source} is corrupt: tensor "${name}" data offset ${offset} is not a multiple of the alignment ${alignment}`);
  }
  const count = ne.reduce((a, b) => a * b, 1);
  const start = dataStart + offset;
  const end = start + tensorBytes(dtype, count);
  if (end > buf.length) {
    throw corrupt(`${source} is truncated: tensor ${name} needs bytes ${start}..${end}, file has ${buf.length}`);
  }
  return { name, dtype, shape: [...ne].reverse(), data: buf.subarray(start, end) };
}

// Smallest possible encodings, used to reject absurd counts before looping: a metadata entry is a key length (8),
// a value type (4) and at least one byte; a tensor info is a name length (8), n_dims (4), type (4) and offset (8).
const MIN_KV_BYTES = 13;
const MIN_TENSOR_INFO_BYTES = 24;

/** Parses a whole GGUF v3 file held in memory. `source` names the file in error messages. */
export function parseGguf(buf: Uint8Array, source: string): GgufFile {
  checkMagic(buf, source);
  const c = new Cursor(buf, source);
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
  const dataStart = alignUp(c.pos, alignment);
  const tensors = new Map<string, RawTensor>();
  for (const info of infos) tensors.set(info.name, placeTensor(buf, source, info, dataStart, alignment));
  return { version, alignment, metadata, tensors, tensorOrder: infos.map((t) => t.name), source };
}

const READ_CHUNK = 1 << 30;

/**
 * Reads a whole file into one fresh buffer (byte offset 0, so tensor views keep the file's alignment), in chunks:
 * unlike `fs.readFileSync` this works past 2 GiB, up to Node's typed-array limit.
 */
function readWholeFile(path: string): Uint8Array {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new TandemError('NOT_FOUND', `${path}: no such file`);
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw corrupt(`${path} is a directory; expected a .gguf file`);
    if (st.size > bufferConstants.MAX_LENGTH) {
      throw new TandemError(
        'UNSUPPORTED',
        `${path} is ${st.size} bytes; this Node.js can hold at most ${bufferConstants.MAX_LENGTH} bytes in one buffer`,
      );
    }
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      const n = fs.readSync(fd, out, at, Math.min(out.length - at, READ_CHUNK), at);
      if (n === 0) break;
      at += n;
    }
    return at === out.length ? out : out.subarray(0, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and parses a GGUF file; a missing file is NOT_FOUND. */
export function readGgufFile(path: string): GgufFile {
  return parseGguf(readWholeFile(path), path);
}

// ---- typed metadata getters -------------------------------------------------------------------------------------

function describe(v: GgufValue): string {
  return v.type === 'array' ? `an array of ${v.itemType} (${v.values.length} items)` : `${v.type} ${String(v.value)}`;
}

function missing(f: GgufFile, key: string, expected: string): TandemError {
  return corrupt(`${f.source ?? 'GGUF file'}: metadata key "${key}" is missing (expected ${expected})`);
}

function wrongType(f: GgufFile, key: string, v: GgufValue, expected: string): TandemError {
  return corrupt(`${f.source ?? 'GGUF file'}: metadata key "${key}" is ${describe(v)}, expected ${expected}`);
}

function toNumber(f: GgufFile, key: string, v: Scalar): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(v);
  }
  throw corrupt(`${f.source ?? 'GGUF file'}: metadata key "${key}" value ${String(v)} is out of the safe number range`);
}

function numberOrUndefined(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type === 'array' || !isNumericType(v.type)) throw wrongType(f, key, v, 'a number');
  return toNumber(f, key, v.value);
}

export function ggufNumber(f: GgufFile, key: string): number {
  const n = numberOrUndefined(f, key);
  if (n === undefined) throw missing(f, key, 'a number');
  return n;
}

export function ggufNumberOr(f: GgufFile, key: string, fallback: number): number {
  return numberOrUndefined(f, key) ?? fallback;
}

export function ggufStringOr(f: GgufFile, key: string, fallback: string | undefined): string | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return fallback;
  if (v.type !== 'string' || typeof v.value !== 'string') throw wrongType(f, key, v, 'a string');
  return v.value;
}

export function ggufString(f: GgufFile, key: string): string {
  const s = ggufStringOr(f, key, undefined);
  if (s === undefined) throw missing(f, key, 'a string');
  return s;
}

/** A bool value; when missing, `fallback` if given, else an error. */
export function ggufBool(f: GgufFile, key: string, fallback?: boolean): boolean {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback === undefined) throw missing(f, key, 'a bool');
    return fallback;
  }
  if (v.type !== 'bool' || typeof v.value !== 'boolean') throw wrongType(f, key, v, 'a bool');
  return v.value;
}

export function ggufArray(f: GgufFile, key: string): readonly Scalar[] {
  const v = f.metadata.get(key);
  if (v === undefined) throw missing(f, key, 'an array');
  if (v.type !== 'array') throw wrongType(f, key, v, 'an array');
  return v.values;
}

/** A numeric array as numbers (64-bit items converted, erroring when unsafe). A scalar is an error. */
export function ggufNumberArray(f: GgufFile, key: string): number[] {
  const v = f.metadata.get(key);
  if (v === undefined) throw missing(f, key, 'an array of numbers');
  if (v.type !== 'array' || !isNumericType(v.itemType)) throw wrongType(f, key, v, 'an array of numbers');
  return v.values.map((x) => toNumber(f, key, x));
}
