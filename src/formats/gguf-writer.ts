/**
 * GGUF v3 writer. Writing streams: the header is encoded in memory (metadata and tensor infos only), then each
 * tensor's bytes go to disk chunk by chunk as its `chunks()` produces them, so multi-GB checkpoints never exist in
 * memory, neither as one buffer nor tensor by tensor (`writeGgufStream`; `writeGguf` is the same for tensors already
 * in memory). It writes to `path + '.tmp'` and renames at the end, so a crash never leaves a half-written file under
 * the real name.
 */
import * as fs from 'node:fs';
import { TandemError } from '../errors.js';
import { DTYPE_LAYOUT, tensorBytes, type DType } from '../numerics/tensor.js';
import {
  DTYPE_TO_GGML,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_TYPE_CODE,
  GGUF_VERSION,
  alignUp,
  isValidAlignment,
  type GgufScalarType,
  type GgufTensorToWrite,
  type GgufValue,
} from './gguf-common.js';

type Metadata = ReadonlyArray<readonly [string, GgufValue]>;

const utf8 = new TextEncoder();

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v: number): void { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v: number): void { this.reserve(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v: number): void { this.reserve(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v: bigint): void { this.reserve(8); this.view.setBigUint64(this.length, v, true); this.length += 8; }
  i64(v: bigint): void { this.reserve(8); this.view.setBigInt64(this.length, v, true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string): void {
    const b = utf8.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  result(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function bad(message: string): TandemError {
  return new TandemError('BAD_ARGUMENT', `writeGguf: ${message}`);
}

const INT_RANGE: Partial<Record<GgufScalarType, readonly [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  i8: [-0x80n, 0x7fn],
  u16: [0n, 0xffffn],
  i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffff_ffffn],
  i32: [-0x8000_0000n, 0x7fff_ffffn],
  u64: [0n, 0xffff_ffff_ffff_ffffn],
  i64: [-0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn],
};

/** Writes one scalar of `type`, checking that `v` fits it; `what` names the value in errors. */
function writeScalar(w: ByteWriter, type: GgufScalarType, v: unknown, what: string): void {
  if (type === 'string') {
    if (typeof v !== 'string') throw bad(`${what} must be a string, got ${typeof v}`);
    w.str(v);
    return;
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw bad(`${what} must be a boolean, got ${typeof v}`);
    w.u8(v ? 1 : 0);
    return;
  }
  if (type === 'f32' || type === 'f64') {
    if (typeof v !== 'number') throw bad(`${what} must be a number, got ${typeof v}`);
    if (type === 'f32') w.f32(v);
    else w.f64(v);
    return;
  }
  const range = INT_RANGE[type];
  if (range === undefined) throw bad(`${what} has unknown type "${String(type)}"`);
  if (!(typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) {
    throw bad(`${what} must be an integer (number or bigint) for type ${type}, got ${String(v)}`);
  }
  const big = BigInt(v);
  if (big < range[0] || big > range[1]) throw bad(`${what} = ${String(v)} does not fit type ${type}`);
  if (type === 'u64') w.u64(big);
  else if (type === 'i64') w.i64(big);
  else if (type === 'u8') w.u8(Number(big));
  else if (type === 'i8') w.i8(Number(big));
  else if (type === 'u16') w.u16(Number(big));
  else if (type === 'i16') w.i16(Number(big));
  else if (type === 'u32') w.u32(Number(big));
  else w.i32(Number(big));
}

function writeKv(w: ByteWriter, key: string, value: GgufValue): void {
  w.str(key);
  if (value.type === 'array') {
    if (!Object.hasOwn(GGUF_TYPE_CODE, value.itemType) || (value.itemType as string) === 'array') {
      throw bad(`metadata "${key}": unsupported array item type "${String(value.itemType)}"`);
    }
    w.u32(GGUF_TYPE_CODE.array);
    w.u32(GGUF_TYPE_CODE[value.itemType]);
    w.u64(BigInt(value.values.length));
    value.values.forEach((v, i) => writeScalar(w, value.itemType, v, `metadata "${key}"[${i}]`));
    return;
  }
  const code = GGUF_TYPE_CODE[value.type];
  if (code === undefined) throw bad(`metadata "${key}" has unknown type "${String(value.type)}"`);
  w.u32(code);
  writeScalar(w, value.type, value.value, `metadata "${key}"`);
}

/** A tensor whose bytes are produced while the file is written. `shape` is in PyTorch order (outermost first). */
export interface GgufTensorStream {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The encoded bytes in order, in any number of chunks; each chunk is written before the next one is asked for. */
  chunks(): Iterable<Uint8Array>;
}

type TensorInfoToWrite = Pick<GgufTensorStream, 'name' | 'dtype' | 'shape'>;

/** Checks one tensor's dtype, dims and whole blocks per row, and returns its byte size. */
function checkTensorInfo(t: TensorInfoToWrite): number {
  const where = `tensor "${t.name}"`;
  if (DTYPE_TO_GGML[t.dtype] === undefined) throw bad(`${where} has unsupported dtype "${String(t.dtype)}"`);
  if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS) {
    throw bad(`${where} has ${t.shape.length} dims; GGUF allows 1 to ${GGUF_MAX_DIMS}`);
  }
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw bad(`${where} has invalid shape [${t.shape.join(', ')}]`);
  }
  const inner = t.shape[t.shape.length - 1] ?? 0;
  const { blockSize } = DTYPE_LAYOUT[t.dtype];
  if (inner % blockSize !== 0) {
    throw bad(`${where}: innermost dim ${inner} is not a multiple of the ${t.dtype} block size ${blockSize}`);
  }
  return tensorBytes(t.dtype, t.shape.reduce((a, b) => a * b, 1));
}

/** Checks a tensor held in memory, including its data length. */
function checkTensor(t: GgufTensorToWrite): void {
  const nbytes = checkTensorInfo(t);
  if (t.data.length !== nbytes) {
    throw bad(`tensor "${t.name}" [${t.shape.join(', ')}] ${t.dtype} needs ${nbytes} bytes, data has ${t.data.length}`);
  }
}

/** Resolves the alignment: the explicit argument, else `general.alignment` from metadata, else 32. */
function resolveAlignment(metadata: Metadata, alignment: number | undefined): number {
  const entry = metadata.find(([k]) => k === 'general.alignment');
  let fromMeta: number | undefined;
  if (entry !== undefined) {
    const v = entry[1];
    if (v.type !== 'u32' || typeof v.value !== 'number') throw bad('"general.alignment" must be a u32 number');
    fromMeta = v.value;
  }
  const a = alignment ?? fromMeta ?? GGUF_DEFAULT_ALIGNMENT;
  if (!isValidAlignment(a)) throw bad(`alignment ${a} is not a power of two`);
  if (fromMeta !== undefined && fromMeta !== a) {
    throw bad(`alignment argument ${a} differs from metadata "general.alignment" = ${fromMeta}`);
  }
  if (fromMeta === undefined && a !== GGUF_DEFAULT_ALIGNMENT) {
    throw bad(`alignment ${a} is not the default 32, so metadata must include "general.alignment" = ${a} (u32)`);
  }
  return a;
}

interface Layout {
  readonly header: Uint8Array;
  readonly alignment: number;
  readonly sizes: readonly number[];
  /** Bytes of the whole file. */
  readonly total: number;
}

/** Encodes everything before the data section (unpadded) after validating all inputs. */
function encodeHeader(metadata: Metadata, tensors: readonly TensorInfoToWrite[], alignment?: number): Layout {
  const align = resolveAlignment(metadata, alignment);
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) throw bad(`duplicate metadata key "${k}"`);
    keys.add(k);
  }
  const names = new Set<string>();
  const sizes = tensors.map((t) => {
    if (names.has(t.name)) throw bad(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    return checkTensorInfo(t);
  });
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(metadata.length));
  for (const [k, v] of metadata) writeKv(w, k, v);
  let offset = 0;
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(BigInt(t.shape[d] ?? 0));
    w.u32(ggmlTypeOf(t.dtype));
    w.u64(BigInt(offset));
    offset = alignUp(offset + (sizes[i] ?? 0), align);
  });
  const header = w.result();
  return { header, alignment: align, sizes, total: alignUp(header.length, align) + offset };
}

/** Progress of a write: bytes written so far, of `total`, and the tensor being written. */
export type GgufWriteProgress = (written: number, total: number, tensor: string) => void;

/**
 * Emits the whole file as a sequence of chunks (header, padding, each tensor's chunks, padding), checking that every
 * tensor produces exactly its size.
 */
function emit(layout: Layout, tensors: readonly GgufTensorStream[], sink: (b: Uint8Array) => void, onProgress?: GgufWriteProgress): void {
  const zeros = new Uint8Array(layout.alignment);
  let pos = 0;
  const put = (b: Uint8Array): void => {
    sink(b);
    pos += b.length;
  };
  const pad = (): void => {
    const n = alignUp(pos, layout.alignment) - pos;
    if (n > 0) put(zeros.subarray(0, n));
  };
  put(layout.header);
  pad();
  tensors.forEach((t, i) => {
    const want = layout.sizes[i] ?? 0;
    let got = 0;
    for (const c of t.chunks()) {
      got += c.length;
      if (got > want) break;
      put(c);
      onProgress?.(pos, layout.total, t.name);
    }
    if (got !== want) throw bad(`tensor "${t.name}" [${t.shape.join(', ')}] ${t.dtype} needs ${want} bytes, its data has ${got}${got > want ? ' or more' : ''}`);
    pad();
  });
  onProgress?.(pos, layout.total, '');
}

const inMemory = (t: GgufTensorToWrite): GgufTensorStream => ({ name: t.name, dtype: t.dtype, shape: t.shape, chunks: () => [t.data] });

/** The exact bytes `writeGguf` would write, in memory (for tests and small fixtures). */
export function encodeGguf(metadata: Metadata, tensors: readonly GgufTensorToWrite[], alignment?: number): Uint8Array {
  tensors.forEach(checkTensor);
  const layout = encodeHeader(metadata, tensors, alignment);
  const out = new Uint8Array(layout.total);
  let at = 0;
  emit(layout, tensors.map(inMemory), (b) => {
    out.set(b, at);
    at += b.length;
  });
  return out;
}

const WRITE_CHUNK = 1 << 30; // stay well under the 2 GiB single-write limit

function writeAll(fd: number, b: Uint8Array): void {
  let at = 0;
  while (at < b.length) {
    const end = Math.min(b.length, at + WRITE_CHUNK);
    at += fs.writeSync(fd, b, at, end - at);
  }
}

export interface GgufWriteOptions {
  /** Data alignment; needs a matching "general.alignment" in the metadata when not the default 32. */
  readonly alignment?: number;
  readonly onProgress?: GgufWriteProgress;
}

/**
 * Writes a GGUF v3 file from tensors produced chunk by chunk (through `path + '.tmp'`, renamed at the end); memory
 * use is the header plus one chunk. Returns the file size in bytes.
 */
export function writeGgufStream(path: string, metadata: Metadata, tensors: readonly GgufTensorStream[], opts: GgufWriteOptions = {}): number {
  const layout = encodeHeader(metadata, tensors, opts.alignment);
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  let ok = false;
  try {
    emit(layout, tensors, (b) => writeAll(fd, b), opts.onProgress);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(tmp, { force: true });
  }
  fs.renameSync(tmp, path);
  return layout.total;
}

/** Writes a GGUF v3 file from tensors in memory, one write per tensor, through `path + '.tmp'` renamed at the end. */
export function writeGguf(
  path: string,
  metadata: Metadata,
  tensors: readonly GgufTensorToWrite[],
  alignment?: number,
): void {
  tensors.forEach(checkTensor);
  writeGgufStream(path, metadata, tensors.map(inMemory), { alignment });
}

function ggmlTypeOf(dtype: DType): number {
  const id = DTYPE_TO_GGML[dtype];
  if (id === undefined) throw new TandemError('BAD_ARGUMENT', `GGUF has no tensor type for ${dtype}; convert it to a ggml type first`);
  return id;
}
