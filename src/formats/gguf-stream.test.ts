/**
 * Large-file GGUF I/O (issue 6 part 5), exercised on small files: `writeGgufStream` writes tensors produced chunk by
 * chunk, byte-identical to `encodeGguf`; `readGgufFile` forced onto its per-tensor path (threshold 0, a 16-byte first
 * header read that must grow many times) gives the same metadata and tensors as parsing the whole buffer, each tensor
 * in its own buffer, and the same one-line errors for truncated files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TandemError } from '../errors.js';
import { mulberry32 } from '../numerics/random.js';
import { tensorBytes, type DType } from '../numerics/tensor.js';
import { encodeGguf, parseGguf, readGgufFile, writeGgufStream, type GgufTensorStream, type GgufTensorToWrite, type GgufValue } from './gguf.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-gguf-stream-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

function tensor(name: string, dtype: DType, shape: number[], seed: number): GgufTensorToWrite {
  const r = mulberry32(seed);
  const n = tensorBytes(dtype, shape.reduce((a, b) => a * b, 1));
  return { name, dtype, shape, data: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)) };
}

/** The tensor's bytes in chunks of `size` (the last one shorter). */
function chunked(t: GgufTensorToWrite, size: number): GgufTensorStream {
  return {
    name: t.name, dtype: t.dtype, shape: t.shape,
    *chunks() {
      for (let at = 0; at < t.data.length; at += size) yield t.data.slice(at, at + size);
    },
  };
}

/** A header of several KiB (a 600-token vocabulary), alignment 64 so the data section starts on a 64-byte boundary. */
const META: Array<[string, GgufValue]> = [
  ['general.architecture', { type: 'string', value: 'nemotron_h' }],
  ['general.alignment', { type: 'u32', value: 64 }],
  ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', values: Array.from({ length: 600 }, (_, i) => `tok${i}`) }],
];
const TENSORS = [
  tensor('token_embd.weight', 'q8_0', [7, 64], 1),
  tensor('blk.0.attn_norm.weight', 'f32', [5], 2),
  tensor('blk.0.ssm_in.weight', 'q4_0', [3, 96], 3),
  tensor('output.weight', 'ggml_nvfp4', [2, 128], 4),
  tensor('x', 'f16', [3, 3], 5),
];
const PER_TENSOR = { wholeFileMaxBytes: 0, headerReadBytes: 16 } as const;

function writeFixture(name: string): string {
  const p = path.join(dir, name);
  writeGgufStream(p, META, TENSORS.map((t, i) => chunked(t, 7 + i)));
  return p;
}

function throwsTandem(fn: () => unknown, code: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TandemError, `expected TandemError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'message is one line');
    assert.match(e.message, re);
    return true;
  });
}

test('writeGgufStream: chunked tensors give the bytes of encodeGguf; progress ends at the file size', () => {
  const p = path.join(dir, 'stream.gguf');
  const seen: number[] = [];
  const total = writeGgufStream(p, META, TENSORS.map((t) => chunked(t, 5)), { onProgress: (w, n) => seen.push(w, n) });
  const expected = encodeGguf(META, TENSORS);
  assert.deepEqual(new Uint8Array(fs.readFileSync(p)), expected);
  assert.equal(total, expected.length);
  const written = seen.filter((_, i) => i % 2 === 0);
  assert.ok(written.every((w, i) => i === 0 || w >= written[i - 1]!), 'progress is monotone');
  assert.equal(written[written.length - 1], expected.length);
  assert.ok(seen.filter((_, i) => i % 2 === 1).every((n) => n === expected.length), 'total is the file size');
});

test('writeGgufStream: a tensor producing too few or too many bytes is BAD_ARGUMENT and leaves no file', () => {
  for (const [label, extra] of [['short', -1], ['long', 1]] as const) {
    const p = path.join(dir, `bad-${label}.gguf`);
    const t = TENSORS[2]!;
    const data = new Uint8Array(t.data.length + extra);
    throwsTandem(
      () => writeGgufStream(p, META, [{ name: t.name, dtype: t.dtype, shape: t.shape, chunks: () => [data.subarray(0, 10), data.subarray(10)] }]),
      'BAD_ARGUMENT',
      new RegExp(`tensor "blk\\.0\\.ssm_in\\.weight" \\[3, 96\\] q4_0 needs ${t.data.length} bytes, its data has ${data.length}`),
    );
    assert.ok(!fs.existsSync(p) && !fs.existsSync(`${p}.tmp`), 'nothing left behind');
  }
});

test('readGgufFile per-tensor path equals the whole-buffer parse; each tensor has its own aligned buffer', () => {
  const p = writeFixture('per-tensor.gguf');
  const whole = parseGguf(new Uint8Array(fs.readFileSync(p)), p);
  assert.ok(whole.tensors.get('x')!.data.byteOffset > 4096, 'the data section starts after a multi-KiB header');
  const split = readGgufFile(p, PER_TENSOR);
  assert.equal(split.source, p);
  assert.equal(split.alignment, 64);
  assert.deepEqual(split.tensorOrder, whole.tensorOrder);
  assert.deepEqual([...split.metadata], [...whole.metadata]);
  for (const t of TENSORS) {
    const got = split.tensors.get(t.name)!;
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(got.data, t.data);
    assert.equal(got.data.byteOffset, 0);
    assert.equal(got.data.buffer.byteLength, t.data.length, `${t.name} is read into a buffer of its own`);
  }
  const defaults = readGgufFile(p); // a small file: one buffer, tensors are views into it
  assert.equal(defaults.tensors.get('x')!.data.buffer.byteLength, fs.statSync(p).size);
});

test('readGgufFile per-tensor path: truncated files give the same one-line errors', () => {
  const p = writeFixture('trunc-src.gguf');
  const bytes = fs.readFileSync(p);
  const whole = parseGguf(new Uint8Array(bytes), p);
  const last = whole.tensors.get('x')!;
  const cut = path.join(dir, 'trunc.gguf');
  const at = last.data.byteOffset + 3;
  fs.writeFileSync(cut, bytes.subarray(0, at));
  throwsTandem(() => readGgufFile(cut, PER_TENSOR), 'BAD_CHECKPOINT', new RegExp(`is truncated: tensor x needs bytes ${last.data.byteOffset}\\.\\.${last.data.byteOffset + last.data.length}, file has ${at}$`));
  let cuts = 0;
  for (let n = 0; n < last.data.byteOffset; n += 331) {
    fs.writeFileSync(cut, bytes.subarray(0, n));
    assert.throws(() => readGgufFile(cut, PER_TENSOR), (e: unknown) => e instanceof TandemError && e.code === 'BAD_CHECKPOINT' && e.message.startsWith(cut), `cut at ${n}`);
    cuts++;
  }
  assert.ok(cuts > 10);
  fs.writeFileSync(cut, bytes.subarray(0, 6000));
  throwsTandem(() => readGgufFile(cut, PER_TENSOR), 'BAD_CHECKPOINT', /trunc\.gguf is truncated.*\b(6000 bytes|only \d+ bytes follow)/);
  fs.writeFileSync(cut, Buffer.from('PK\u0003\u0004 not a model at all'));
  throwsTandem(() => readGgufFile(cut, PER_TENSOR), 'BAD_CHECKPOINT', /is not a GGUF file: it starts with bytes 50 4b 03 04/);
});
