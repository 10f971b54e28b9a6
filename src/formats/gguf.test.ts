import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TandemError, type ErrorCode } from '../errors.js';
import { DTYPE_LAYOUT, tensorBytes, type DType } from '../numerics/tensor.js';
import {
  encodeGguf,
  ggufArray,
  ggufBool,
  ggufNumber,
  ggufNumberArray,
  ggufNumberOr,
  ggufString,
  ggufStringOr,
  parseGguf,
  readGgufFile,
  writeGguf,
  type GgufTensorToWrite,
  type GgufValue,
} from './gguf.js';
import { mulberry32 } from '../numerics/random.js';

type Meta = [string, GgufValue][];


function randomBytes(n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

function tensor(name: string, dtype: DType, shape: number[], seed = 1): GgufTensorToWrite {
  const count = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, data: randomBytes(tensorBytes(dtype, count), seed) };
}

/** Asserts `fn` throws a TandemError with `code` whose message matches `re`, and is one line. */
function throwsTandem(fn: () => unknown, code: ErrorCode, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TandemError, `expected TandemError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'message is one line');
    if (re !== undefined) assert.match(e.message, re);
    return true;
  });
}

const SCALARS: Meta = [
  ['t.u8', { type: 'u8', value: 255 }],
  ['t.i8', { type: 'i8', value: -128 }],
  ['t.u16', { type: 'u16', value: 65535 }],
  ['t.i16', { type: 'i16', value: -32768 }],
  ['t.u32', { type: 'u32', value: 4294967295 }],
  ['t.i32', { type: 'i32', value: -2147483648 }],
  ['t.f32', { type: 'f32', value: 1.5 }],
  ['t.bool.true', { type: 'bool', value: true }],
  ['t.bool.false', { type: 'bool', value: false }],
  ['t.string', { type: 'string', value: 'héllo, 世界 ✓' }],
  ['t.string.empty', { type: 'string', value: '' }],
  ['t.u64', { type: 'u64', value: 18446744073709551615n }],
  ['t.i64', { type: 'i64', value: -9223372036854775808n }],
  ['t.f64', { type: 'f64', value: Math.PI }],
];

const ARRAYS: Meta = [
  ['a.i32', { type: 'array', itemType: 'i32', values: [0, 30720, 0, -5] }],
  ['a.f32', { type: 'array', itemType: 'f32', values: [0.25, -2, 1e-5] }],
  ['a.u64', { type: 'array', itemType: 'u64', values: [1n, 2n ** 40n] }],
  ['a.string', { type: 'array', itemType: 'string', values: ['<s>', '</s>', 'Ġthe', '', '∑'] }],
  ['a.bool', { type: 'array', itemType: 'bool', values: [true, false, true] }],
  ['a.empty', { type: 'array', itemType: 'u8', values: [] }],
];

function smallFile(): Uint8Array {
  return encodeGguf(
    [['general.architecture', { type: 'string', value: 'nemotron_h' }], ...SCALARS.slice(0, 4), ARRAYS[3]!],
    [tensor('blk.0.ssm_in.weight', 'q8_0', [3, 64], 1), tensor('blk.0.attn_norm.weight', 'f32', [5], 2), tensor('b', 'f16', [2, 3], 3)],
  );
}

test('round-trips every scalar type', () => {
  const f = parseGguf(encodeGguf(SCALARS, []), 'scalars.gguf');
  assert.equal(f.version, 3);
  assert.equal(f.alignment, 32);
  assert.deepEqual([...f.metadata.keys()], SCALARS.map(([k]) => k));
  for (const [k, v] of SCALARS) assert.deepEqual(f.metadata.get(k), v, k);
  assert.equal(f.tensors.size, 0);
});

test('f32 values are rounded to f32 on the way through', () => {
  const f = parseGguf(encodeGguf([['x', { type: 'f32', value: 0.1 }]], []), 'f.gguf');
  assert.equal(ggufNumber(f, 'x'), Math.fround(0.1));
});

test('round-trips arrays of numbers, strings and bools', () => {
  const f = parseGguf(encodeGguf(ARRAYS, []), 'arrays.gguf');
  for (const [k, v] of ARRAYS) {
    const got = f.metadata.get(k);
    assert.ok(got !== undefined && got.type === 'array' && v.type === 'array');
    assert.equal(got.itemType, v.itemType);
    const want = v.itemType === 'f32' ? v.values.map((x) => Math.fround(x as number)) : v.values;
    assert.deepEqual(got.values, want, k);
  }
});

test('round-trips every supported dtype with exact bytes and PyTorch-order shapes', () => {
  const dtypes: DType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'];
  const tensors = dtypes.flatMap((d, i) => [tensor(`t.${d}.2d`, d, [3, 64], i * 2), tensor(`t.${d}.4d`, d, [2, 1, 3, 32], i * 2 + 1)]);
  const f = parseGguf(encodeGguf([], tensors), 'dtypes.gguf');
  assert.deepEqual(f.tensorOrder, tensors.map((t) => t.name));
  for (const t of tensors) {
    const got = f.tensors.get(t.name);
    assert.ok(got !== undefined);
    assert.equal(got.name, t.name);
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(got.data, t.data);
  }
});

test('tensor data is a zero-copy view into the parsed buffer', () => {
  const buf = encodeGguf([], [tensor('w', 'f32', [4, 8])]);
  const t = parseGguf(buf, 'v.gguf').tensors.get('w');
  assert.ok(t !== undefined);
  assert.equal(t.data.buffer, buf.buffer);
  buf[buf.length - 1] = 0x7f ^ (buf[buf.length - 1] ?? 0);
  assert.equal(t.data[t.data.length - 1], buf[buf.length - 1]);
});

test('tensor info holds ne innermost first: shape [3, 64] is written as ne [64, 3]', () => {
  const buf = encodeGguf([], [tensor('w', 'f32', [3, 64])]);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  assert.equal(v.getUint32(0, true), 0x46554747); // "GGUF"
  assert.equal(v.getUint32(4, true), 3);
  assert.equal(v.getBigUint64(8, true), 1n); // tensor count
  assert.equal(v.getBigUint64(16, true), 0n); // kv count
  assert.equal(v.getBigUint64(24, true), 1n); // name length
  assert.equal(buf[32], 'w'.charCodeAt(0));
  assert.equal(v.getUint32(33, true), 2); // n_dims
  assert.equal(v.getBigUint64(37, true), 64n); // ne[0]
  assert.equal(v.getBigUint64(45, true), 3n); // ne[1]
  assert.equal(v.getUint32(53, true), 0); // F32
  assert.equal(v.getBigUint64(57, true), 0n); // offset
  assert.equal(buf.length, 96 + 3 * 64 * 4); // header 65 bytes, padded to 96
});

function checkAlignment(buf: Uint8Array, alignment: number): void {
  const f = parseGguf(buf, 'align.gguf');
  assert.equal(f.alignment, alignment);
  let prevEnd = 0;
  for (const name of f.tensorOrder) {
    const t = f.tensors.get(name)!;
    const at = t.data.byteOffset - buf.byteOffset;
    assert.equal(at % alignment, 0, `${name} at ${at}`);
    assert.ok(at >= prevEnd && at - prevEnd < alignment + (prevEnd === 0 ? at : 0));
    prevEnd = at + t.data.length;
  }
  assert.equal(buf.length % alignment, 0, 'file ends padded');
}

test('pads the data section and every tensor to 32 bytes by default', () => {
  const tensors = [tensor('a', 'f32', [5]), tensor('b', 'q4_0', [1, 32]), tensor('c', 'f16', [7]), tensor('d', 'bf16', [3])];
  checkAlignment(encodeGguf([], tensors), 32);
});

test('honours a custom alignment of 64 given with general.alignment', () => {
  const tensors = [tensor('a', 'f32', [5]), tensor('b', 'q8_0', [1, 32]), tensor('c', 'f16', [7])];
  const meta: Meta = [['general.alignment', { type: 'u32', value: 64 }]];
  checkAlignment(encodeGguf(meta, tensors, 64), 64);
  checkAlignment(encodeGguf(meta, tensors), 64); // taken from the metadata
});

test('writer refuses a non-default alignment that the file would not record', () => {
  throwsTandem(() => encodeGguf([], [tensor('a', 'f32', [5])], 64), 'BAD_ARGUMENT', /general\.alignment/);
  const meta: Meta = [['general.alignment', { type: 'u32', value: 64 }]];
  throwsTandem(() => encodeGguf(meta, [], 32), 'BAD_ARGUMENT', /differs/);
  throwsTandem(() => encodeGguf([['general.alignment', { type: 'u32', value: 48 }]], []), 'BAD_ARGUMENT', /power of two/);
});

test('parses a buffer that starts at a non-zero byte offset', () => {
  const file = smallFile();
  const big = new Uint8Array(file.length + 13);
  big.set(file, 5);
  const f = parseGguf(big.subarray(5, 5 + file.length), 'offset.gguf');
  assert.deepEqual(f.tensors.get('b')?.data, parseGguf(file, 'x').tensors.get('b')?.data);
  assert.equal(ggufString(f, 'general.architecture'), 'nemotron_h');
});

test('truncation at every 7th byte always gives a TandemError', () => {
  const buf = smallFile();
  const f = parseGguf(buf, 'full.gguf');
  const last = f.tensors.get(f.tensorOrder[f.tensorOrder.length - 1]!)!;
  const dataEnd = last.data.byteOffset + last.data.length;
  let cuts = 0;
  for (let cut = 0; cut < dataEnd; cut += 7) {
    assert.throws(
      () => parseGguf(buf.subarray(0, cut), `cut${cut}.gguf`),
      (e: unknown) => e instanceof TandemError && e.code === 'BAD_CHECKPOINT' && e.message.startsWith(`cut${cut}.gguf`),
      `cut at ${cut}`,
    );
    cuts++;
  }
  assert.ok(cuts > 30);
  throwsTandem(() => parseGguf(buf.subarray(0, 30), 'h.gguf'), 'BAD_CHECKPOINT', /is truncated/);
});

test('truncated tensor data names the tensor and the byte range', () => {
  const buf = smallFile();
  const t = parseGguf(buf, 'x').tensors.get('blk.0.ssm_in.weight')!;
  const start = t.data.byteOffset;
  throwsTandem(
    () => parseGguf(buf.subarray(0, start + 10), 'm.gguf'),
    'BAD_CHECKPOINT',
    new RegExp(`^m\\.gguf is truncated: tensor blk\\.0\\.ssm_in\\.weight needs bytes ${start}\\.\\.${start + t.data.length}, file has ${start + 10}$`),
  );
});

test('bad magic says what the bytes were', () => {
  const buf = new TextEncoder().encode('PK\u0003\u0004 not a model');
  throwsTandem(() => parseGguf(buf, 'model.zip'), 'BAD_CHECKPOINT', /model\.zip is not a GGUF file: it starts with bytes 50 4b 03 04 .*expected a \.gguf file/);
  const st = new Uint8Array(16);
  st[0] = 8;
  st[8] = 0x7b;
  throwsTandem(() => parseGguf(st, 'm.safetensors'), 'BAD_CHECKPOINT', /safetensors/);
  throwsTandem(() => parseGguf(new Uint8Array(0), 'e.gguf'), 'BAD_CHECKPOINT', /empty/);
});

/** A copy of `buf` with a u32 / u64 patched at `at`. */
function patch(buf: Uint8Array, at: number, value: number | bigint, bytes: 4 | 8 = 4): Uint8Array {
  const out = buf.slice();
  const v = new DataView(out.buffer);
  if (bytes === 4) v.setUint32(at, Number(value), true);
  else v.setBigUint64(at, BigInt(value), true);
  return out;
}

test('versions other than 3 are UNSUPPORTED', () => {
  const buf = smallFile();
  throwsTandem(() => parseGguf(patch(buf, 4, 2), 'v2.gguf'), 'UNSUPPORTED', /version 2 .*v2.*GGUF v3 only/);
  throwsTandem(() => parseGguf(patch(buf, 4, 1), 'v1.gguf'), 'UNSUPPORTED', /version 1/);
  throwsTandem(() => parseGguf(patch(buf, 4, 7), 'v7.gguf'), 'UNSUPPORTED', /version 7/);
  throwsTandem(() => parseGguf(patch(buf, 4, 0x03000000), 'be.gguf'), 'UNSUPPORTED', /big-endian/);
});

// Layout of a file with no metadata and one tensor "w": name length at 24, n_dims at 33, ne from 37, type after.
const ONE = (): Uint8Array => encodeGguf([], [tensor('w', 'f32', [3, 64])]);

test('unsupported and unknown ggml types are UNSUPPORTED with the type name', () => {
  throwsTandem(
    () => parseGguf(patch(ONE(), 53, 3), 'k.gguf'),
    'UNSUPPORTED',
    /^k\.gguf: tensor "w" has ggml type Q4_1 \(id 3\), which Tandem cannot read yet \(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, MXFP4, NVFP4, I8, I32\)$/,
  );
  throwsTandem(() => parseGguf(patch(ONE(), 53, 20), 'k.gguf'), 'UNSUPPORTED', /IQ4_NL \(id 20\)/);
  throwsTandem(() => parseGguf(patch(ONE(), 53, 99), 'k.gguf'), 'UNSUPPORTED', /unknown ggml type \(id 99\)/);
});

test('huge string lengths and counts are rejected without allocating', () => {
  throwsTandem(() => parseGguf(patch(ONE(), 24, 2n ** 40n, 8), 'n.gguf'), 'BAD_CHECKPOINT', /length of name of tensor #0/);
  throwsTandem(() => parseGguf(patch(ONE(), 24, 2n ** 63n, 8), 'n.gguf'), 'BAD_CHECKPOINT', /corrupt/);
  throwsTandem(() => parseGguf(patch(ONE(), 8, 2n ** 50n, 8), 'c.gguf'), 'BAD_CHECKPOINT', /tensor count/);
  throwsTandem(() => parseGguf(patch(ONE(), 16, 1000n, 8), 'c.gguf'), 'BAD_CHECKPOINT', /metadata entr/);
  const arr = encodeGguf([['a', { type: 'array', itemType: 'u32', values: [1, 2] }]], []);
  // key: length at 24, "a" at 32; type at 33; item type at 37; count at 41
  throwsTandem(() => parseGguf(patch(arr, 41, 2n ** 40n, 8), 'a.gguf'), 'BAD_CHECKPOINT', /array length/);
  throwsTandem(() => parseGguf(patch(arr, 37, 9), 'a.gguf'), 'UNSUPPORTED', /array of arrays/);
  throwsTandem(() => parseGguf(patch(arr, 33, 13), 'a.gguf'), 'BAD_CHECKPOINT', /unknown value type 13/);
  const b = encodeGguf([['b', { type: 'bool', value: true }]], []);
  const bad = b.slice();
  bad[37] = 2;
  throwsTandem(() => parseGguf(bad, 'b.gguf'), 'BAD_CHECKPOINT', /bool with value 2/);
});

test('bad tensor infos are BAD_CHECKPOINT', () => {
  throwsTandem(() => parseGguf(patch(ONE(), 33, 5), 'd.gguf'), 'BAD_CHECKPOINT', /5 dims/);
  throwsTandem(() => parseGguf(patch(ONE(), 45, 0n, 8), 'z.gguf'), 'BAD_CHECKPOINT', /zero-sized/);
  throwsTandem(() => parseGguf(patch(ONE(), 57, 4n, 8), 'o.gguf'), 'BAD_CHECKPOINT', /offset 4 is not a multiple of the alignment 32/);
  const q = encodeGguf([], [tensor('q', 'q8_0', [2, 64])]);
  throwsTandem(() => parseGguf(patch(q, 37, 48n, 8), 'q.gguf'), 'BAD_CHECKPOINT', /ne\[0\] = 48, not a multiple of the Q8_0 block size 32/);
  const two = encodeGguf([], [tensor('a', 'f32', [4]), tensor('b', 'f32', [4])]);
  const dup = two.slice();
  dup[dup.indexOf('b'.charCodeAt(0), 24)] = 'a'.charCodeAt(0);
  throwsTandem(() => parseGguf(dup, 'dup.gguf'), 'BAD_CHECKPOINT', /duplicate tensor name "a"/);
  const kv = encodeGguf([['k1', { type: 'u8', value: 1 }], ['k2', { type: 'u8', value: 2 }]], []);
  const dupKv = kv.slice();
  dupKv[dupKv.lastIndexOf('2'.charCodeAt(0))] = '1'.charCodeAt(0);
  throwsTandem(() => parseGguf(dupKv, 'dupkv.gguf'), 'BAD_CHECKPOINT', /duplicate metadata key "k1"/);
  const al = encodeGguf([['general.alignment', { type: 'u32', value: 64 }]], []);
  throwsTandem(() => parseGguf(patch(al, 24 + 8 + 17 + 4, 24), 'al.gguf'), 'BAD_CHECKPOINT', /general\.alignment/);
});

test('writer validates its inputs', () => {
  const t = tensor('a', 'f32', [4]);
  throwsTandem(() => encodeGguf([], [t, t]), 'BAD_ARGUMENT', /duplicate tensor name "a"/);
  throwsTandem(() => encodeGguf([], [{ ...t, data: new Uint8Array(3) }]), 'BAD_ARGUMENT', /needs 16 bytes, data has 3/);
  throwsTandem(() => encodeGguf([], [tensor('q', 'q4_0', [1, 32]), { ...tensor('r', 'q4_0', [1, 32]), shape: [32, 1] }]), 'BAD_ARGUMENT', /block size/);
  throwsTandem(() => encodeGguf([], [{ ...t, shape: [1, 1, 1, 1, 4] }]), 'BAD_ARGUMENT', /5 dims/);
  throwsTandem(() => encodeGguf([['x', { type: 'u8', value: 256 }]], []), 'BAD_ARGUMENT', /"x".*does not fit type u8/);
  throwsTandem(() => encodeGguf([['x', { type: 'i32', value: 1.5 }]], []), 'BAD_ARGUMENT', /integer/);
  throwsTandem(() => encodeGguf([['x', { type: 'string', value: 3 }]], []), 'BAD_ARGUMENT', /string/);
  throwsTandem(() => encodeGguf([['x', { type: 'u8', value: 1 }], ['x', { type: 'u8', value: 1 }]], []), 'BAD_ARGUMENT', /duplicate metadata key/);
  assert.equal(DTYPE_LAYOUT.q4_0.blockSize, 32);
});

test('writeGguf streams to disk, renames from .tmp, and reads back identically', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-gguf-'));
  try {
    const meta: Meta = [['general.architecture', { type: 'string', value: 'nemotron_h' }], ...ARRAYS];
    const tensors = [tensor('token_embd.weight', 'bf16', [16, 64]), tensor('output_norm.weight', 'f32', [64]), tensor('x', 'q4_0', [2, 64])];
    const p = path.join(dir, 'tiny.gguf');
    writeGguf(p, meta, tensors);
    assert.deepEqual(fs.readdirSync(dir), ['tiny.gguf']);
    assert.deepEqual(new Uint8Array(fs.readFileSync(p)), encodeGguf(meta, tensors));
    const f = readGgufFile(p);
    assert.equal(f.source, p);
    assert.deepEqual(f.tensors.get('x')?.data, tensors[2]!.data);
    assert.equal((f.tensors.get('token_embd.weight')!.data.byteOffset) % 32, 0);
    throwsTandem(() => writeGguf(path.join(dir, 'bad.gguf'), [], [{ ...tensors[0]!, data: new Uint8Array(1) }]), 'BAD_ARGUMENT');
    assert.deepEqual(fs.readdirSync(dir), ['tiny.gguf']);
    throwsTandem(() => readGgufFile(path.join(dir, 'missing.gguf')), 'NOT_FOUND', /missing\.gguf/);
    throwsTandem(() => readGgufFile(dir), 'BAD_CHECKPOINT', /directory/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('typed getters return values and name the key and expected type on errors', () => {
  const meta: Meta = [
    ...SCALARS,
    ...ARRAYS,
    ['big', { type: 'u64', value: 2n ** 60n }],
    ['nemotron_h.block_count', { type: 'u32', value: 52 }],
  ];
  const f = parseGguf(encodeGguf(meta, []), 'g.gguf');
  assert.equal(ggufNumber(f, 'nemotron_h.block_count'), 52);
  throwsTandem(() => ggufNumber(f, 't.i64'), 'BAD_CHECKPOINT', /"t\.i64" value -9223372036854775808 is out of the safe number range/);
  assert.equal(ggufNumber(f, 't.i8'), -128);
  assert.equal(ggufNumber(f, 't.f64'), Math.PI);
  assert.equal(ggufNumberOr(f, 'nope', 7), 7);
  assert.equal(ggufNumberOr(f, 't.u16', 7), 65535);
  assert.equal(ggufString(f, 't.string'), 'héllo, 世界 ✓');
  assert.equal(ggufStringOr(f, 'nope', undefined), undefined);
  assert.equal(ggufStringOr(f, 'nope', 'd'), 'd');
  assert.equal(ggufBool(f, 't.bool.true'), true);
  assert.equal(ggufBool(f, 't.bool.false', true), false);
  assert.equal(ggufBool(f, 'nope', true), true);
  assert.deepEqual(ggufArray(f, 'a.string'), ['<s>', '</s>', 'Ġthe', '', '∑']);
  assert.deepEqual(ggufNumberArray(f, 'a.i32'), [0, 30720, 0, -5]);
  assert.deepEqual(ggufNumberArray(f, 'a.u64'), [1, 2 ** 40]);
  throwsTandem(() => ggufNumber(f, 'nope'), 'BAD_CHECKPOINT', /^g\.gguf: metadata key "nope" is missing \(expected a number\)$/);
  throwsTandem(() => ggufNumber(f, 't.string'), 'BAD_CHECKPOINT', /"t\.string" is string .*expected a number/);
  throwsTandem(() => ggufNumber(f, 'big'), 'BAD_CHECKPOINT', /"big".*safe/);
  throwsTandem(() => ggufNumberOr(f, 'a.i32', 1), 'BAD_CHECKPOINT', /"a\.i32" is an array of i32.*expected a number/);
  throwsTandem(() => ggufString(f, 't.u8'), 'BAD_CHECKPOINT', /"t\.u8" is u8 255, expected a string/);
  throwsTandem(() => ggufString(f, 'nope'), 'BAD_CHECKPOINT', /missing \(expected a string\)/);
  throwsTandem(() => ggufBool(f, 'nope'), 'BAD_CHECKPOINT', /missing \(expected a bool\)/);
  throwsTandem(() => ggufBool(f, 't.u8', false), 'BAD_CHECKPOINT', /expected a bool/);
  throwsTandem(() => ggufArray(f, 't.u8'), 'BAD_CHECKPOINT', /expected an array/);
  throwsTandem(() => ggufNumberArray(f, 't.u32'), 'BAD_CHECKPOINT', /"t\.u32" is u32 .*expected an array of numbers/);
  throwsTandem(() => ggufNumberArray(f, 'a.string'), 'BAD_CHECKPOINT', /expected an array of numbers/);
});

