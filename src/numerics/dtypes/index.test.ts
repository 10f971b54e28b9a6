import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TandemError } from '../../errors.js';
import { rowBytes, type DType, type Matrix } from '../tensor.js';
import { decodeRow, fromFloat32, toFloat32 } from './index.js';

const ALL = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as const;

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
}

test('fromFloat32 → toFloat32 round trips exactly for values the float dtypes represent', () => {
  // Multiples of 1/8 in [-4, 4) are exact in f16 and bf16 (block formats are lossy: see decodeRow below).
  const x = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 8);
  for (const dt of ['f32', 'f16', 'bf16'] as const) {
    assert.deepEqual([...toFloat32(dt, fromFloat32(dt, x), x.length)], [...x], dt);
  }
});

test('decodeRow decodes each row of every dtype like toFloat32 on the whole tensor', () => {
  const rows = 3;
  const cols = 64;
  const x = ramp(rows * cols);
  for (const dtype of ALL) {
    const data = fromFloat32(dtype, x);
    assert.equal(data.length, rows * rowBytes(dtype, cols), dtype);
    const whole = toFloat32(dtype, data, rows * cols);
    const m: Matrix = { dtype, rows, cols, data };
    for (let r = 0; r < rows; r++) {
      const out = new Float32Array(cols + 5);
      decodeRow(m, r, out, 5);
      assert.deepEqual([...out.subarray(5)], [...whole.subarray(r * cols, (r + 1) * cols)], `${dtype} row ${r}`);
    }
  }
  assert.throws(() => decodeRow({ dtype: 'f16', rows, cols, data: fromFloat32('f16', x) }, 3, new Float32Array(cols)), TandemError);
});

test('toFloat32 of f32 is a zero-copy view when 4-aligned, a copy otherwise', () => {
  const backing = new Uint8Array(4 * 9);
  new DataView(backing.buffer).setFloat32(4, 1.5, true);
  const aligned = toFloat32('f32', backing.subarray(4, 12), 2);
  assert.equal(aligned[0], 1.5);
  assert.equal(aligned.buffer, backing.buffer, 'aligned data is viewed, not copied');
  new DataView(backing.buffer).setFloat32(4, -3, true);
  assert.equal(aligned[0], -3, 'the view sees writes to the file buffer');

  const unaligned = backing.subarray(1, 9);
  new DataView(backing.buffer).setFloat32(1, 2.25, true);
  const copy = toFloat32('f32', unaligned, 2);
  assert.equal(copy[0], 2.25);
  assert.notEqual(copy.buffer, backing.buffer);
});

test('block dtypes need a multiple of 32 elements; short data is rejected', () => {
  const isBadArgument = (e: unknown): boolean => e instanceof TandemError && e.code === 'BAD_ARGUMENT';
  assert.throws(() => fromFloat32('q8_0', new Float32Array(33)), isBadArgument);
  assert.throws(() => fromFloat32('q4_0', new Float32Array(16)), isBadArgument);
  assert.throws(() => toFloat32('q4_0', new Uint8Array(18), 31), isBadArgument);
  assert.throws(() => toFloat32('f16', new Uint8Array(5), 3), isBadArgument);
  assert.equal(fromFloat32('q8_0', new Float32Array(64)).length, 68);
  assert.equal(fromFloat32('f16', new Float32Array(3)).length, 6);
});
