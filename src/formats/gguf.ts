/**
 * GGUF v3 reader (spec: ggml `docs/gguf.md`). The header is parsed by `gguf-header.ts`; tensors are handed out with
 * shapes reversed from ggml `ne` order (innermost first) to PyTorch order. `parseGguf` works on a file held in memory
 * and gives zero-copy views into it; `readGgufFile` reads small files that way and larger ones (up to any size, past
 * Node's 4 GiB buffer limit) tensor by tensor: the header through a bounded prefix, then each tensor's bytes into its
 * own buffer. Every malformed input ends in a one-line `TandemError`, never a RangeError.
 * The writer lives in `gguf-writer.ts` and is re-exported here.
 */
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { TandemError } from '../errors.js';
import { DTYPE_LAYOUT, tensorBytes, type DType } from '../numerics/tensor.js';
import type { RawTensor } from './raw-tensor.js';
import { dtypeOfGgmlType, ggmlTypeName, isNumericType, type GgufValue } from './gguf-common.js';
import { HeaderNeedsMore, corrupt, describe, parseGgufHeader, type GgufHeader, type Scalar, type TensorInfo } from './gguf-header.js';

export type { GgufScalarType, GgufTensorToWrite, GgufValue } from './gguf-common.js';
export { ggmlTypeName } from './gguf-common.js';
export { encodeGguf, writeGguf, writeGgufStream, type GgufTensorStream, type GgufWriteOptions, type GgufWriteProgress } from './gguf-writer.js';

export interface GgufFile {
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Shape in PyTorch order (reversed `ne`); `data` holds exactly the tensor's bytes (a view into the file buffer for small files). */
  readonly tensors: ReadonlyMap<string, RawTensor>;
  /** Tensor names in file order. */
  readonly tensorOrder: readonly string[];
  /** File name used in error messages (set by `parseGguf`). */
  readonly source?: string;
}

interface Placement {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly start: number;
  readonly end: number;
}

/** Where a tensor's bytes lie in a file of `fileSize` bytes, after checking type, block size, alignment and bounds. */
function placeTensor(source: string, info: TensorInfo, h: GgufHeader, fileSize: number): Placement {
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
  if (offset % h.alignment !== 0) {
    throw corrupt(`${source} is corrupt: tensor "${name}" data offset ${offset} is not a multiple of the alignment ${h.alignment}`);
  }
  const count = ne.reduce((a, b) => a * b, 1);
  const start = h.dataStart + offset;
  const end = start + tensorBytes(dtype, count);
  if (end > fileSize) {
    throw corrupt(`${source} is truncated: tensor ${name} needs bytes ${start}..${end}, file has ${fileSize}`);
  }
  return { dtype, shape: [...ne].reverse(), start, end };
}

function fileOf(h: GgufHeader, source: string, tensors: Map<string, RawTensor>): GgufFile {
  return { version: h.version, alignment: h.alignment, metadata: h.metadata, tensors, tensorOrder: h.infos.map((t) => t.name), source };
}

/** Parses a whole GGUF v3 file held in memory; tensors are zero-copy views. `source` names the file in error messages. */
export function parseGguf(buf: Uint8Array, source: string): GgufFile {
  const h = parseGgufHeader(buf, source, buf.length);
  const tensors = new Map<string, RawTensor>();
  for (const info of h.infos) {
    const p = placeTensor(source, info, h, buf.length);
    tensors.set(info.name, { name: info.name, dtype: p.dtype, shape: p.shape, data: buf.subarray(p.start, p.end) });
  }
  return fileOf(h, source, tensors);
}

export interface GgufReadOptions {
  /** Files up to this size are read into one buffer (tensors are views into it); larger ones tensor by tensor. */
  readonly wholeFileMaxBytes?: number;
  /** First prefix read for the header in the per-tensor path; doubled until the header fits. */
  readonly headerReadBytes?: number;
}

/** Default `wholeFileMaxBytes`: 1 GiB, so every multi-GB model takes the per-tensor path (no 4 GiB limit). */
export const GGUF_WHOLE_FILE_MAX = 1 << 30;
const HEADER_READ = 1 << 20;
const READ_CHUNK = 1 << 30;

/** Fills `out` from the file at `position`; returns the bytes read (fewer only at end of file). */
function readAt(fd: number, out: Uint8Array, position: number): number {
  let at = 0;
  while (at < out.length) {
    const n = fs.readSync(fd, out, at, Math.min(out.length - at, READ_CHUNK), position + at);
    if (n === 0) break;
    at += n;
  }
  return at;
}

function openGguf(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new TandemError('NOT_FOUND', `${path}: no such file`);
    throw e;
  }
  const st = fs.fstatSync(fd);
  if (st.isDirectory()) {
    fs.closeSync(fd);
    throw corrupt(`${path} is a directory; expected a .gguf file`);
  }
  return { fd, size: st.size };
}

/** The whole file in one fresh buffer (byte offset 0, so tensor views keep the file's alignment). */
function readWhole(fd: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const n = readAt(fd, out, 0);
  return n === size ? out : out.subarray(0, n);
}

/** The header from a prefix of the file, doubling the prefix until the header fits. */
function readHeader(fd: number, size: number, path: string, first: number): GgufHeader {
  let len = Math.min(size, Math.max(16, first));
  for (;;) {
    const buf = new Uint8Array(len);
    const got = readAt(fd, buf, 0);
    try {
      return parseGgufHeader(buf.subarray(0, got), path, got < len ? got : size);
    } catch (e) {
      if (!(e instanceof HeaderNeedsMore)) throw e;
      const next = Math.min(size, Math.max(2 * len, e.bytes), bufferConstants.MAX_LENGTH);
      if (next <= len) throw new TandemError('UNSUPPORTED', `${path}: the GGUF header is larger than ${len} bytes, more than Tandem can read`);
      len = next;
    }
  }
}

/** Reads each tensor into its own buffer: no buffer is ever larger than the largest tensor. */
function readPerTensor(path: string, headerRead: number): GgufFile {
  const lazy = openGgufLazy(path, headerRead);
  try {
    const tensors = new Map<string, RawTensor>();
    for (const [name, t] of lazy.file.tensors) tensors.set(name, { name, dtype: t.dtype, shape: t.shape, data: t.data });
    return { ...lazy.file, tensors };
  } finally {
    lazy.close();
  }
}

/** A GGUF file whose tensors read their bytes from disk each time `data` is accessed (nothing is cached). */
export interface LazyGgufFile {
  readonly file: GgufFile;
  /** Closes the file; tensor `data` must not be read afterwards. */
  close(): void;
}

/**
 * Open a GGUF file of any size reading only its header; each tensor's `data` is read on access into a fresh buffer
 * the caller may drop. For loaders that hand every matrix to a backend's memory at once (wasm / native
 * `prepareMatrix`): peak memory stays near one copy of the weights instead of file + packed.
 */
export function openGgufLazy(path: string, headerReadBytes = HEADER_READ): LazyGgufFile {
  const { fd, size } = openGguf(path);
  let open = true;
  try {
    const h = readHeader(fd, size, path, headerReadBytes);
    const tensors = new Map<string, RawTensor>();
    for (const info of h.infos) {
      const p = placeTensor(path, info, h, size);
      const n = p.end - p.start;
      if (n > bufferConstants.MAX_LENGTH) {
        throw new TandemError('UNSUPPORTED', `${path}: tensor ${info.name} is ${n} bytes; this Node.js can hold at most ${bufferConstants.MAX_LENGTH} bytes in one buffer`);
      }
      const read = (): Uint8Array => {
        if (!open) throw new Error(`${path}: tensor ${info.name} read after the file was closed`);
        const data = new Uint8Array(n);
        const got = readAt(fd, data, p.start);
        if (got !== n) throw corrupt(`${path} is truncated: tensor ${info.name} needs bytes ${p.start}..${p.end}, file has ${p.start + got}`);
        return data;
      };
      tensors.set(info.name, { name: info.name, dtype: p.dtype, shape: p.shape, get data() { return read(); } });
    }
    return { file: fileOf(h, path, tensors), close: () => { if (open) fs.closeSync(fd); open = false; } };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Reads and parses a GGUF file of any size; a missing file is NOT_FOUND. */
export function readGgufFile(path: string, opts: GgufReadOptions = {}): GgufFile {
  const { fd, size } = openGguf(path);
  try {
    if (size <= (opts.wholeFileMaxBytes ?? GGUF_WHOLE_FILE_MAX) && size <= bufferConstants.MAX_LENGTH) {
      return parseGguf(readWhole(fd, size), path);
    }
  } finally {
    fs.closeSync(fd);
  }
  return readPerTensor(path, opts.headerReadBytes ?? HEADER_READ);
}

// ---- typed metadata getters -------------------------------------------------------------------------------------

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
