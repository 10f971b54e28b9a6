/**
 * safetensors reader and writer (Hugging Face checkpoints).
 *
 * File layout:
 *   bytes 0..7        N, the header length, u64 little-endian
 *   bytes 8..8+N      UTF-8 JSON object: { "<tensor>": { "dtype": "F32" | "F16" | "BF16" | …,
 *                     "shape": [d0, d1, …], "data_offsets": [begin, end] }, …, "__metadata__": { str: str } }
 *                     (writers may pad it with trailing spaces)
 *   bytes 8+N..       data section; each tensor's bytes are [8+N+begin, 8+N+end), row-major, little-endian
 * A sharded checkpoint is a directory with model.safetensors.index.json
 * ({ "metadata": {…}, "weight_map": { "<tensor>": "<shard file>" } }) next to its shard files.
 *
 * Reading is strict (any inconsistency is a one-line TandemError naming the file and tensor) and zero-copy:
 * each tensor's `data` is a view into the bytes read from the file, never a copy of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TandemError } from '../errors.js';
import type { DType } from '../numerics/tensor.js';
import type { RawTensor, TensorMap } from './raw-tensor.js';

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Default size of the buffers a file's data section is read into (each holds whole tensors). */
const DEFAULT_CHUNK_BYTES = 1 << 30;
const MAX_BUFFER_BYTES = 2 ** 32; // largest Uint8Array Node 20 allocates

const FROM_ST: Readonly<Record<string, DType>> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', F8_E4M3: 'f8_e4m3', F8_E5M2: 'f8_e5m2', U8: 'u8', I8: 'i8', I32: 'i32',
};
const TO_ST: Readonly<Partial<Record<DType, string>>> = Object.fromEntries(Object.entries(FROM_ST).map(([k, v]) => [v, k]));
const ITEM_BYTES: Readonly<Partial<Record<DType, number>>> = { f32: 4, f16: 2, bf16: 2, f8_e4m3: 1, f8_e5m2: 1, u8: 1, i8: 1, i32: 4 };

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

interface Header {
  entries: Entry[];
  metadata: Record<string, string>;
  dataStart: number;
}

function bad(source: string, message: string): TandemError {
  return new TandemError('BAD_CHECKPOINT', `${source}: ${message}`);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Header length N from the first 8 bytes, checked against the limit and the file size. */
function headerLength(prefix: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) throw bad(source, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_BYTES) throw bad(source, `header length ${n} is over the 100 MB limit (not a safetensors file?)`);
  if (8 + n > fileSize) throw bad(source, `truncated: header length ${n} runs past the end of the ${fileSize}-byte file`);
  return n;
}

function readEntry(name: string, raw: unknown, source: string): Entry {
  const where = `tensor "${name}"`;
  if (!isObject(raw)) throw bad(source, `${where} is not a JSON object in the header`);
  const { dtype: dt, shape, data_offsets: offsets } = raw;
  if (typeof dt !== 'string') throw bad(source, `${where} has no dtype`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw bad(source, `${where} has no shape (an array of non-negative integers)`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0]! > offsets[1]!) {
    throw bad(source, `${where} has no valid data_offsets ([begin, end] with 0 <= begin <= end)`);
  }
  const dtype = FROM_ST[dt];
  if (dtype === undefined) {
    const message = `${source}: tensor "${name}" has dtype ${dt}; Tandem reads F32, F16, BF16, F8_E4M3, F8_E5M2, U8, I8 and I32 safetensors`;
    throw new TandemError('UNSUPPORTED', message);
  }
  const [begin, end] = offsets as [number, number];
  const need = shape.reduce((a: number, b: number) => a * b, 1) * ITEM_BYTES[dtype]!;
  if (end - begin !== need) {
    throw bad(source, `${where} has ${end - begin} bytes but shape [${shape.join(', ')}] of ${dt} needs ${need}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function readMetadata(raw: unknown, source: string): Record<string, string> {
  if (raw === undefined) return {};
  if (!isObject(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
    throw bad(source, '__metadata__ must be a JSON object of string values');
  }
  return { ...(raw as Record<string, string>) };
}

/** Every range inside the data section, and no two non-empty ranges sharing a byte. */
function checkRanges(entries: readonly Entry[], dataStart: number, fileSize: number, source: string): void {
  for (const e of entries) {
    if (dataStart + e.end > fileSize) {
      throw bad(source, `truncated: tensor "${e.name}" ends at byte ${dataStart + e.end} but the file has ${fileSize} bytes`);
    }
  }
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prev, cur] = [sorted[i - 1]!, sorted[i]!];
    if (cur.begin < prev.end) {
      const [a, b] = [`"${prev.name}" [${prev.begin}, ${prev.end})`, `"${cur.name}" [${cur.begin}, ${cur.end})`];
      throw bad(source, `tensors ${a} and ${b} overlap`);
    }
  }
}

/** Parses and validates the header; `prefix` holds at least the first 8 + N bytes of a `fileSize`-byte file. */
function parseHeader(prefix: Uint8Array, fileSize: number, source: string): Header {
  const n = headerLength(prefix, fileSize, source);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, 8 + n)));
  } catch (e) {
    throw bad(source, `header is not valid JSON (${oneLine(e)})`);
  }
  if (!isObject(json)) throw bad(source, 'header is not a JSON object');
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name !== '__metadata__') entries.push(readEntry(name, raw, source));
  }
  checkRanges(entries, 8 + n, fileSize, source);
  return { entries, metadata: readMetadata(json['__metadata__'], source), dataStart: 8 + n };
}

/** Parses a whole safetensors file held in `buf`; tensor data are views into `buf`. */
export function parseSafetensors(buf: Uint8Array, source: string): SafetensorsFile {
  const { entries, metadata, dataStart } = parseHeader(buf, buf.length, source);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    const data = buf.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function readAt(fd: number, position: number, length: number, source: string): Uint8Array {
  const buf = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buf, done, Math.min(length - done, 1 << 30), position + done);
    if (n === 0) throw bad(source, `truncated: the file ended while reading bytes ${position}..${position + length}`);
    done += n;
  }
  return buf;
}

function openFile(file: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TandemError('NOT_FOUND', `${file}: no such file`);
    throw e;
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new TandemError('NOT_FOUND', `${file}: not a regular file`);
  }
  return { fd, size: stat.size };
}

/** Reads the data section into buffers of about `chunkBytes`, each holding whole tensors, and views them. */
function readTensors(fd: number, header: Header, chunkBytes: number, file: string): Map<string, RawTensor> {
  const views = new Map<string, RawTensor>();
  const sorted = [...header.entries].sort((a, b) => a.begin - b.begin);
  for (let i = 0; i < sorted.length; ) {
    const first = sorted[i]!;
    let j = i + 1;
    let end = first.end;
    while (j < sorted.length && sorted[j]!.end - first.begin <= chunkBytes) end = Math.max(end, sorted[j++]!.end);
    if (end - first.begin > MAX_BUFFER_BYTES) {
      throw new TandemError('UNSUPPORTED', `${file}: tensor "${first.name}" is ${end - first.begin} bytes, over the 4 GiB one buffer holds`);
    }
    const chunk = readAt(fd, header.dataStart + first.begin, end - first.begin, file);
    for (const e of sorted.slice(i, j)) {
      const data = chunk.subarray(e.begin - first.begin, e.end - first.begin);
      views.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data });
    }
    i = j;
  }
  return new Map(header.entries.map((e) => [e.name, views.get(e.name)!])); // the header's order
}

/**
 * Reads a safetensors file. The data section is read into buffers of about `chunkBytes` (default 1 GiB),
 * each holding whole tensors, so files larger than one typed array can hold still load; every tensor's
 * `data` is a view into one of them.
 */
export function readSafetensorsFile(file: string, options: { chunkBytes?: number } = {}): SafetensorsFile {
  const { fd, size } = openFile(file);
  try {
    const n = headerLength(size >= 8 ? readAt(fd, 0, 8, file) : new Uint8Array(8), size, file);
    const header = parseHeader(readAt(fd, 0, 8 + n, file), size, file);
    return { tensors: readTensors(fd, header, options.chunkBytes ?? DEFAULT_CHUNK_BYTES, file), metadata: header.metadata };
  } finally {
    fs.closeSync(fd);
  }
}

function readIndex(indexPath: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw bad(indexPath, `not valid JSON (${oneLine(e)})`);
  }
  const weightMap = isObject(json) ? json['weight_map'] : undefined;
  if (!isObject(weightMap) || !Object.values(weightMap).every((v) => typeof v === 'string')) {
    throw bad(indexPath, 'no "weight_map" object mapping tensor names to shard files');
  }
  return new Map(Object.entries(weightMap as Record<string, string>));
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 5).map((n) => `"${n}"`).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

function loadSharded(dir: string, indexPath: string): TensorMap {
  const weightMap = readIndex(indexPath);
  const shards = [...new Set(weightMap.values())];
  const root = path.resolve(dir);
  for (const shard of shards) {
    const rel = path.relative(root, path.resolve(root, shard));
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw bad(indexPath, `weight_map names "${shard}", outside ${dir}`);
    }
    if (!fs.existsSync(path.join(root, shard))) {
      throw new TandemError('NOT_FOUND', `${path.join(dir, shard)}: shard named in ${indexPath} does not exist`);
    }
  }
  const out = new Map<string, RawTensor>();
  const owner = new Map<string, string>();
  for (const shard of shards) {
    const file = path.join(dir, shard);
    for (const [name, t] of readSafetensorsFile(file).tensors) {
      if (owner.has(name)) throw bad(file, `tensor "${name}" is also in ${path.join(dir, owner.get(name)!)}`);
      out.set(name, t);
      owner.set(name, shard);
    }
  }
  const misplaced = [...weightMap].filter(([name, shard]) => owner.get(name) !== shard).map(([name]) => name);
  if (misplaced.length > 0) {
    const first = misplaced[0]!;
    const found = owner.has(first) ? `it is in ${owner.get(first)}` : 'no shard holds it';
    const detail = `"${first}": expected in ${weightMap.get(first)}, ${found}`;
    throw bad(indexPath, `${misplaced.length} tensor(s) listed in weight_map are not in their shard: ${listNames(misplaced)} (${detail})`);
  }
  const unlisted = [...out.keys()].filter((name) => !weightMap.has(name));
  if (unlisted.length > 0) {
    throw bad(indexPath, `${unlisted.length} tensor(s) in the shards are missing from weight_map: ${listNames(unlisted)}`);
  }
  return out;
}

/**
 * Loads a directory holding model.safetensors, or model.safetensors.index.json + shards
 * ({"metadata": …, "weight_map": {tensor: file}}); model.safetensors wins when both are present.
 */
export function loadSafetensorsDir(dir: string): TensorMap {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new TandemError('NOT_FOUND', `${dir}: no such directory`);
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return readSafetensorsFile(single).tensors;
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return loadSharded(dir, index);
  throw new TandemError('NOT_FOUND', `no model.safetensors or model.safetensors.index.json in ${dir}`);
}

// ---------------------------------------------------------------------------------------------------------
// Writing

function checkEntries(file: string, tensors: readonly SafetensorsEntry[]): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    const st = TO_ST[t.dtype];
    const where = `${file}: tensor "${t.name}"`;
    if (st === undefined) throw new TandemError('UNSUPPORTED', `${where} has dtype ${t.dtype}; safetensors holds f32, f16 and bf16 only`);
    if (t.name === '__metadata__' || seen.has(t.name)) throw new TandemError('BAD_ARGUMENT', `${where}: name is reserved or repeated`);
    seen.add(t.name);
    const shape = `[${t.shape.join(', ')}]`;
    if (!t.shape.every((d) => isCount(d))) throw new TandemError('BAD_ARGUMENT', `${where} has shape ${shape}`);
    const need = t.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[t.dtype]!;
    if (t.data.length !== need) {
      throw new TandemError('BAD_ARGUMENT', `${where} has ${t.data.length} bytes but shape ${shape} of ${st} needs ${need}`);
    }
  }
}

/** Writes `chunks` to `file + '.tmp'`, then renames it over `file`. */
function writeAtomically(file: string, chunks: readonly Uint8Array[]): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const chunk of chunks) {
      for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done, chunk.length - done);
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/**
 * Writes one safetensors file. The header is padded with spaces so the data section starts 8-byte aligned,
 * and the data section holds the wider dtypes first (as the reference `safetensors` serializer does), so every
 * tensor starts aligned to its element size. Header entries keep the order given.
 */
export function writeSafetensors(file: string, tensors: readonly SafetensorsEntry[], metadata?: Record<string, string>): void {
  checkEntries(file, tensors);
  if (metadata !== undefined && !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw new TandemError('BAD_ARGUMENT', `${file}: metadata values must be strings`);
  }
  const layout = tensors
    .map((t, i) => ({ t, i }))
    .sort((a, b) => ITEM_BYTES[b.t.dtype]! - ITEM_BYTES[a.t.dtype]! || a.i - b.i);
  const offsets = new Map<string, [number, number]>();
  let offset = 0;
  for (const { t } of layout) {
    offsets.set(t.name, [offset, offset + t.data.length]);
    offset += t.data.length;
  }
  const header: Record<string, unknown> = Object.create(null); // so a tensor named "__proto__" is an ordinary key
  if (metadata !== undefined) header['__metadata__'] = metadata;
  for (const t of tensors) {
    header[t.name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: offsets.get(t.name) };
  }
  let json = JSON.stringify(header);
  const bytes = new TextEncoder().encode(json);
  json += ' '.repeat((8 - ((8 + bytes.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setUint32(0, headerBytes.length, true); // high 32 bits stay 0: header < 100 MB
  writeAtomically(file, [prefix, headerBytes, ...layout.map(({ t }) => t.data)]);
}

/**
 * Writes `tensors` as shards model-00001-of-0000N.safetensors (in order, starting a new shard when the next
 * tensor would push the current one past `maxShardBytes` of data; a larger tensor gets a shard of its own)
 * plus model.safetensors.index.json, as Hugging Face's `save_pretrained` lays them out.
 */
export function writeShardedSafetensors(dir: string, tensors: readonly SafetensorsEntry[], maxShardBytes: number): void {
  if (!(maxShardBytes > 0)) throw new TandemError('BAD_ARGUMENT', `maxShardBytes must be positive, got ${maxShardBytes}`);
  const groups: SafetensorsEntry[][] = [[]];
  let used = 0;
  for (const t of tensors) {
    if (groups.at(-1)!.length > 0 && used + t.data.length > maxShardBytes) {
      groups.push([]);
      used = 0;
    }
    groups.at(-1)!.push(t);
    used += t.data.length;
  }
  fs.mkdirSync(dir, { recursive: true });
  const pad = (i: number): string => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  groups.forEach((group, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`;
    writeSafetensors(path.join(dir, name), group, { format: 'pt' });
    for (const t of group) {
      weightMap[t.name] = name;
      totalSize += t.data.length;
    }
  });
  const index = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
  writeAtomically(path.join(dir, 'model.safetensors.index.json'), [new TextEncoder().encode(index)]);
}
