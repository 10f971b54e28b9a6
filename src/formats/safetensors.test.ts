import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TandemError, type ErrorCode } from '../errors.js';
import type { DType } from '../numerics/tensor.js';
import {
  loadSafetensorsDir,
  parseSafetensors,
  readSafetensorsFile,
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsEntry,
} from './safetensors.js';
import type { RawTensor } from './raw-tensor.js';
import { mulberry32 } from '../numerics/random.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-safetensors-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
function tmpDir(): string {
  const dir = path.join(tmpRoot, `d${dirCount++}`);
  fs.mkdirSync(dir);
  return dir;
}


const ITEM: Record<string, number> = { f32: 4, f16: 2, bf16: 2 };

function entry(name: string, dtype: DType, shape: number[], seed: number): SafetensorsEntry {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1) * ITEM[dtype]!;
  return { name, dtype, shape, data: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)) };
}

/** f16 with an odd element count first, so a naive layout would misalign the f32 tensors after it. */
function sampleTensors(): SafetensorsEntry[] {
  return [
    entry('a.f16', 'f16', [3, 5], 1),
    entry('b.f32', 'f32', [4, 3], 2),
    entry('c.bf16', 'bf16', [2, 2, 3], 3),
    entry('d.scalar', 'f32', [], 4),
    entry('e.empty', 'bf16', [0, 7], 5),
    entry('f.f32', 'f32', [7], 6),
  ];
}

function assertSameTensors(got: ReadonlyMap<string, RawTensor>, want: readonly SafetensorsEntry[]): void {
  assert.deepEqual([...got.keys()].sort(), want.map((t) => t.name).sort());
  for (const t of want) {
    const g = got.get(t.name)!;
    assert.equal(g.name, t.name);
    assert.equal(g.dtype, t.dtype, t.name);
    assert.deepEqual([...g.shape], t.shape, t.name);
    assert.deepEqual(g.data, t.data, t.name);
  }
}

/** Asserts `fn` throws a one-line TandemError with `code` whose message matches `re`. */
function throwsTandem(fn: () => unknown, code: ErrorCode, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TandemError, `expected a TandemError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'message is one line');
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** A file from a header (object or raw text) and a data section; `n` overrides the header length field. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), n?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const buf = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(buf.buffer);
  view.setUint32(0, (n ?? json.length) % 2 ** 32, true);
  view.setUint32(4, Math.floor((n ?? json.length) / 2 ** 32), true);
  buf.set(json, 8);
  buf.set(data, 8 + json.length);
  return buf;
}

test('single file round trip: every dtype, scalar and empty tensors, metadata, aligned data', () => {
  const file = path.join(tmpDir(), 'model.safetensors');
  const tensors = sampleTensors();
  writeSafetensors(file, tensors, { format: 'pt', note: 'héllo' });
  assert.ok(!fs.existsSync(`${file}.tmp`), 'temporary file renamed away');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  assert.equal((8 + n) % 8, 0, 'data section starts 8-byte aligned');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: number[] }>;
  for (const t of tensors) {
    const begin = header[t.name]!.data_offsets[0]!;
    assert.equal(begin % ITEM[t.dtype]!, 0, `${t.name} starts aligned to its element size`);
  }
  for (const { tensors: got, metadata } of [readSafetensorsFile(file), parseSafetensors(bytes, file)]) {
    assertSameTensors(got, tensors);
    assert.deepEqual(metadata, { format: 'pt', note: 'héllo' });
  }
  assert.deepEqual([...readSafetensorsFile(file).tensors.keys()], tensors.map((t) => t.name), 'header order kept');
  assertSameTensors(loadSafetensorsDir(path.dirname(file)), tensors);
});

test('parse is zero-copy; file reads share a few chunk buffers', () => {
  const file = path.join(tmpDir(), 'm.safetensors');
  const tensors = sampleTensors();
  writeSafetensors(file, tensors);
  const buf = new Uint8Array(fs.readFileSync(file));
  for (const t of parseSafetensors(buf, file).tensors.values()) assert.equal(t.data.buffer, buf.buffer, t.name);
  const whole = readSafetensorsFile(file);
  assert.equal(new Set([...whole.tensors.values()].map((t) => t.data.buffer)).size, 1, 'default: one buffer');
  assert.deepEqual(whole.metadata, {});
  const chunked = readSafetensorsFile(file, { chunkBytes: 40 });
  assertSameTensors(chunked.tensors, tensors);
  assert.ok(new Set([...chunked.tensors.values()].map((t) => t.data.buffer)).size > 2, 'small chunks: several buffers');
});

test('sharded round trip over 3 shards', () => {
  const dir = path.join(tmpDir(), 'sharded');
  const tensors = [entry('w0', 'f32', [8, 8], 10), entry('w1', 'bf16', [8, 16], 11), entry('w2', 'f16', [100], 12), entry('w3', 'f32', [10], 13), entry('w4', 'f16', [3], 14)];
  writeShardedSafetensors(dir, tensors, 300); // 256 | 256 | 200+40+6 bytes
  const names = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];
  assert.deepEqual(fs.readdirSync(dir).sort(), [...names, 'model.safetensors.index.json']);
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.deepEqual(index, {
    metadata: { total_size: 256 + 256 + 200 + 40 + 6 },
    weight_map: { w0: names[0], w1: names[1], w2: names[2], w3: names[2], w4: names[2] },
  });
  assertSameTensors(readSafetensorsFile(path.join(dir, names[2]!)).tensors, tensors.slice(2));
  assertSameTensors(loadSafetensorsDir(dir), tensors);
  throwsTandem(() => writeShardedSafetensors(dir, tensors, 0), 'BAD_ARGUMENT');
});

test('truncation at every cut point raises a TandemError, never another exception', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, sampleTensors(), { format: 'pt' });
  const full = new Uint8Array(fs.readFileSync(file));
  for (let cut = 0; cut < full.length; cut++) {
    throwsTandem(() => parseSafetensors(full.subarray(0, cut), 'cut.safetensors'), 'BAD_CHECKPOINT', /^cut\.safetensors: /);
  }
  for (const cut of [0, 5, 8, 30, full.length - 60, full.length - 1]) {
    const f = path.join(dir, `cut${cut}.safetensors`);
    fs.writeFileSync(f, full.subarray(0, cut));
    throwsTandem(() => readSafetensorsFile(f), 'BAD_CHECKPOINT', /truncated|shorter/);
  }
  throwsTandem(() => parseSafetensors(full.subarray(0, full.length - 1), 'x'), 'BAD_CHECKPOINT', /truncated: tensor "c\.bf16" ends at byte/);
});

test('bad header length, invalid JSON and non-object headers are rejected', () => {
  throwsTandem(() => parseSafetensors(new Uint8Array(5), 'm'), 'BAD_CHECKPOINT', /shorter than the 8-byte/);
  throwsTandem(() => parseSafetensors(craft({}, new Uint8Array(0), 1000), 'm'), 'BAD_CHECKPOINT', /header length 1000 runs past/);
  throwsTandem(() => parseSafetensors(craft({}, new Uint8Array(0), 2 ** 40), 'm'), 'BAD_CHECKPOINT', /over the 100 MB limit/);
  throwsTandem(() => parseSafetensors(craft('{"a": [1, 2'), 'm'), 'BAD_CHECKPOINT', /not valid JSON/);
  const badUtf8 = craft('{"x":1}');
  badUtf8[10] = 0xff;
  throwsTandem(() => parseSafetensors(badUtf8, 'm'), 'BAD_CHECKPOINT', /not valid JSON/);
  throwsTandem(() => parseSafetensors(craft('[1, 2]'), 'm'), 'BAD_CHECKPOINT', /not a JSON object/);
  throwsTandem(() => parseSafetensors(craft({ __metadata__: { a: 1 } }), 'm'), 'BAD_CHECKPOINT', /__metadata__/);
  assert.equal(parseSafetensors(craft({}), 'm').tensors.size, 0, 'an empty checkpoint is valid');
});

test('malformed entries name the file and the tensor', () => {
  const data = new Uint8Array(16);
  const ok = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ dtype: 'F32', shape: [4] }, /m\.st: tensor "t" has no valid data_offsets/],
    [{ shape: [4], data_offsets: [0, 16] }, /m\.st: tensor "t" has no dtype/],
    [{ dtype: 'F32', data_offsets: [0, 16] }, /tensor "t" has no shape/],
    [{ dtype: 'F32', shape: [2, -2], data_offsets: [0, 16] }, /tensor "t" has no shape/],
    [{ dtype: 'F32', shape: [4], data_offsets: [16, 0] }, /no valid data_offsets/],
    [{ dtype: 'F32', shape: [3], data_offsets: [0, 16] }, /tensor "t" has 16 bytes but shape \[3\] of F32 needs 12/],
    [{ dtype: 'BF16', shape: [2, 2], data_offsets: [0, 16] }, /has 16 bytes but shape \[2, 2\] of BF16 needs 8/],
    [{ dtype: 'F32', shape: [8], data_offsets: [0, 32] }, /truncated: tensor "t" ends at byte/],
  ];
  for (const [t, re] of cases) throwsTandem(() => parseSafetensors(craft({ t }, data), 'm.st'), 'BAD_CHECKPOINT', re);
  throwsTandem(() => parseSafetensors(craft({ t: 5 }, data), 'm.st'), 'BAD_CHECKPOINT', /tensor "t" is not a JSON object/);
  const overlap = { a: ok, b: { dtype: 'F16', shape: [4], data_offsets: [8, 16] } };
  throwsTandem(() => parseSafetensors(craft(overlap, data), 'm.st'), 'BAD_CHECKPOINT', /tensors "a" \[0, 16\) and "b" \[8, 16\) overlap/);
  const emptyInside = { a: ok, b: { dtype: 'F16', shape: [0], data_offsets: [8, 8] } };
  assert.equal(parseSafetensors(craft(emptyInside, data), 'm.st').tensors.size, 2, 'a zero-byte range overlaps nothing');
});

test('unsupported dtypes raise UNSUPPORTED with the documented message', () => {
  for (const [dt, size] of [['F64', 8], ['I64', 8], ['BOOL', 1], ['WHAT', 1]] as const) {
    const buf = craft({ 'x.weight': { dtype: dt, shape: [2], data_offsets: [0, 2 * size] } }, new Uint8Array(2 * size));
    throwsTandem(() => parseSafetensors(buf, 'm.safetensors'), 'UNSUPPORTED');
    assert.throws(() => parseSafetensors(buf, 'm.safetensors'), {
      message: `m.safetensors: tensor "x.weight" has dtype ${dt}; Tandem reads F32, F16, BF16, F8_E4M3, F8_E5M2, U8, I8 and I32 safetensors`,
    });
  }
});

function writeShards(dir: string, shards: Record<string, SafetensorsEntry[]>, weightMap: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, tensors] of Object.entries(shards)) writeSafetensors(path.join(dir, file), tensors);
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
}

test('sharded checkpoints: missing shard, duplicate tensor, index inconsistencies', () => {
  const [a, b, c] = [entry('a', 'f32', [2], 1), entry('b', 'f16', [2], 2), entry('c', 'bf16', [2], 3)];
  const base = tmpDir();
  const missing = path.join(base, 'missing');
  writeShards(missing, { 's1.safetensors': [a] }, { a: 's1.safetensors', b: 's2.safetensors' });
  throwsTandem(() => loadSafetensorsDir(missing), 'NOT_FOUND', /s2\.safetensors: shard named in .*model\.safetensors\.index\.json does not exist/);

  const dup = path.join(base, 'dup');
  writeShards(dup, { 's1.safetensors': [a, b], 's2.safetensors': [b, c] }, { a: 's1.safetensors', b: 's1.safetensors', c: 's2.safetensors' });
  throwsTandem(() => loadSafetensorsDir(dup), 'BAD_CHECKPOINT', /s2\.safetensors: tensor "b" is also in .*s1\.safetensors/);

  const notInShard = path.join(base, 'not-in-shard');
  writeShards(notInShard, { 's1.safetensors': [a], 's2.safetensors': [c] }, { a: 's1.safetensors', b: 's2.safetensors', c: 's2.safetensors' });
  throwsTandem(() => loadSafetensorsDir(notInShard), 'BAD_CHECKPOINT', /1 tensor\(s\) listed in weight_map are not in their shard: "b" .*no shard holds it/);

  const wrongShard = path.join(base, 'wrong-shard');
  writeShards(wrongShard, { 's1.safetensors': [a, b], 's2.safetensors': [c] }, { a: 's1.safetensors', b: 's2.safetensors', c: 's2.safetensors' });
  throwsTandem(() => loadSafetensorsDir(wrongShard), 'BAD_CHECKPOINT', /"b": expected in s2\.safetensors, it is in s1\.safetensors/);

  const unlisted = path.join(base, 'unlisted');
  writeShards(unlisted, { 's1.safetensors': [a, b] }, { a: 's1.safetensors' });
  throwsTandem(() => loadSafetensorsDir(unlisted), 'BAD_CHECKPOINT', /missing from weight_map: "b"/);

  const escape = path.join(base, 'escape');
  writeShards(escape, {}, { a: '../dup/s1.safetensors' });
  throwsTandem(() => loadSafetensorsDir(escape), 'BAD_CHECKPOINT', /outside/);

  const badIndex = path.join(base, 'bad-index');
  fs.mkdirSync(badIndex);
  fs.writeFileSync(path.join(badIndex, 'model.safetensors.index.json'), '{"weight_map": ');
  throwsTandem(() => loadSafetensorsDir(badIndex), 'BAD_CHECKPOINT', /index\.json: not valid JSON/);
  fs.writeFileSync(path.join(badIndex, 'model.safetensors.index.json'), '{"metadata": {}}');
  throwsTandem(() => loadSafetensorsDir(badIndex), 'BAD_CHECKPOINT', /no "weight_map"/);
});

test('missing files and directories are NOT_FOUND', () => {
  const empty = tmpDir();
  throwsTandem(() => loadSafetensorsDir(empty), 'NOT_FOUND', new RegExp(`^no model\\.safetensors or model\\.safetensors\\.index\\.json in ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  throwsTandem(() => loadSafetensorsDir(path.join(empty, 'nope')), 'NOT_FOUND', /no such directory/);
  throwsTandem(() => readSafetensorsFile(path.join(empty, 'nope.safetensors')), 'NOT_FOUND', /nope\.safetensors: no such file/);
  throwsTandem(() => readSafetensorsFile(empty), 'NOT_FOUND', /not a regular file/);
});

test('the writer rejects what safetensors cannot hold', () => {
  const file = path.join(tmpDir(), 'w.safetensors');
  throwsTandem(() => writeSafetensors(file, [{ name: 'q', dtype: 'q8_0', shape: [32], data: new Uint8Array(34) }]), 'UNSUPPORTED', /q8_0/);
  throwsTandem(() => writeSafetensors(file, [{ name: 'x', dtype: 'f32', shape: [3], data: new Uint8Array(8) }]), 'BAD_ARGUMENT', /8 bytes but shape \[3\] of F32 needs 12/);
  throwsTandem(() => writeSafetensors(file, [entry('x', 'f32', [1], 1), entry('x', 'f16', [1], 2)]), 'BAD_ARGUMENT', /repeated/);
  throwsTandem(() => writeSafetensors(file, [entry('__metadata__', 'f32', [1], 1)]), 'BAD_ARGUMENT', /reserved/);
  assert.ok(!fs.existsSync(file) && !fs.existsSync(`${file}.tmp`), 'nothing written');
  const odd = [entry('__proto__', 'f16', [2], 7), entry('0', 'f32', [1], 8)]; // names JS objects treat specially
  writeSafetensors(file, odd);
  assertSameTensors(readSafetensorsFile(file).tensors, odd);
});
