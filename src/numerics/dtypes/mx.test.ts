import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MxMatrix } from '../tensor.js';
import { e8m0ToF32 } from './e8m0.js';
import { decodeMxRow, quantizeMx, type MxFormat, type MxScaleRule } from './mx.js';
import { packNibbles, unpackNibbles } from './nvfp4.js';
import { codesHex, decodeRows, errors, hex, isBadArgument, scaledBlocks, VECTOR_C } from '../../testing/codec-probes.js';

function roundTrip(format: MxFormat, x: Float32Array, cols: number, rule: MxScaleRule): { m: MxMatrix; y: Float32Array } {
  const rows = x.length / cols;
  const m: MxMatrix = { dtype: format, rows, cols, ...quantizeMx(format, x, rows, cols, rule) };
  return { m, y: decodeRows(m, decodeMxRow) };
}

test('mx: spec §3.4 vector C, OCP floor rule — scale 0x7F, codes, both packings, dequant, RMSE 0.308 / max 1.0', () => {
  const { m, y } = roundTrip('mxfp4', VECTOR_C, 32, 'floor');
  assert.equal(hex(m.blockScales), '7F');
  const codes = unpackNibbles(m.data, 32, 'pairs');
  assert.equal(codesHex(codes), '7 D 5 2 2 9 1 0 8 0 6 F 0 3 C 1 1 9 2 4 A 2 1 8 5 6 E 1 0 9 3 4');
  assert.equal(hex(m.data), 'D7 25 92 01 08 F6 30 1C 91 42 2A 81 65 1E 90 43');
  assert.equal(hex(packNibbles(codes, 'split', 32)), '17 9D 25 42 A2 29 11 80 58 60 E6 1F 00 93 3C 41');
  assert.deepEqual(
    [...y],
    [6, -3, 3, 1, 1, -0.5, 0.5, 0, -0, 0, 4, -6, 0, 1.5, -2, 0.5, 0.5, -0.5, 1, 2, -1, 1, 0.5, -0, 3, 4, -4, 0.5, 0, -0.5, 1.5, 2],
  );
  const { rmse, max } = errors(VECTOR_C, y);
  assert.equal(rmse.toFixed(3), '0.308');
  assert.equal(max, 1); // 7 clipped to 6
});

test('mx: spec §3.4 vector C, round-up rule — scale 0x80, codes, packing, dequant (3.5 tie → 4 → 8), RMSE 0.360 / max 1.0', () => {
  const { m, y } = roundTrip('mxfp4', VECTOR_C, 32, 'ceil');
  assert.equal(hex(m.blockScales), '80');
  assert.equal(codesHex(unpackNibbles(m.data, 32, 'pairs')), '6 B 3 1 1 9 0 0 8 0 4 D 0 1 A 1 0 8 1 2 9 1 0 8 3 4 C 1 0 9 2 2');
  assert.equal(hex(m.data), 'B6 13 91 00 08 D4 10 1A 80 21 19 80 43 1C 90 22');
  assert.deepEqual(
    [...y],
    [8, -3, 3, 1, 1, -1, 0, 0, -0, 0, 4, -6, 0, 1, -2, 1, 0, -0, 1, 2, -1, 1, 0, -0, 3, 4, -4, 1, 0, -1, 2, 2],
  );
  const { rmse, max } = errors(VECTOR_C, y);
  assert.equal(rmse.toFixed(3), '0.360');
  assert.equal(max, 1);
});

test('mx: the "amax = 3 + δ" case — floor uses ±4/±6, round-up leaves them unused', () => {
  const x = new Float32Array(32);
  x.set([3.1, 1.0, 0.6, 0.3]);
  const floor = roundTrip('mxfp4', x, 32, 'floor');
  assert.equal(e8m0ToF32(floor.m.blockScales[0]!), 0.5);
  assert.equal(codesHex(unpackNibbles(floor.m.data, 4, 'pairs')), '7 4 2 1');
  assert.deepEqual([...floor.y.subarray(0, 4)], [3, 1, 0.5, 0.25]);
  const ceil = roundTrip('mxfp4', x, 32, 'ceil');
  assert.equal(e8m0ToF32(ceil.m.blockScales[0]!), 1);
  assert.equal(codesHex(unpackNibbles(ceil.m.data, 4, 'pairs')), '5 2 1 1');
  assert.deepEqual([...ceil.y.subarray(0, 4)], [3, 1, 0.5, 0.5]);
});

test('mx: spec §3.5 MXFP8 block — floor saturates 500 to 448, round-up keeps it (error 52 vs 12)', () => {
  const x = new Float32Array(32);
  x.set([500, -3, 0.01, 100]);
  const floor = roundTrip('mxfp8', x, 32, 'floor');
  assert.equal(hex(floor.m.blockScales), '7F');
  assert.equal(hex(floor.m.data.subarray(0, 4)), '7E C4 05 6C');
  assert.deepEqual([...floor.y.subarray(0, 4)], [448, -3, 0.009765625, 96]);
  assert.equal(errors(x, floor.y).max, 52);
  const ceil = roundTrip('mxfp8', x, 32, 'ceil');
  assert.equal(hex(ceil.m.blockScales), '80');
  assert.equal(hex(ceil.m.data.subarray(0, 4)), '78 BC 03 64');
  assert.deepEqual([...ceil.y.subarray(0, 4)], [512, -3, 0.01171875, 96]);
  assert.equal(errors(x, ceil.y).max, 12);
  assert.ok(floor.m.data.subarray(4).every((b) => b === 0));
});

test('mx: all-zero blocks get scale byte 0x00 and zero codes; a NaN scale byte decodes the block to NaN', () => {
  for (const format of ['mxfp4', 'mxfp8'] as const) {
    for (const rule of ['floor', 'ceil'] as const) {
      const { m, y } = roundTrip(format, new Float32Array(64), 64, rule);
      assert.equal(hex(m.blockScales), '00 00');
      assert.ok(m.data.every((b) => b === 0) && y.every((v) => v === 0));
    }
  }
  const m: MxMatrix = { dtype: 'mxfp4', rows: 1, cols: 32, data: new Uint8Array(16).fill(0x22), blockScales: new Uint8Array([0xff]) };
  const y = new Float32Array(32);
  decodeMxRow(m, 0, y);
  assert.ok(y.every((v) => Number.isNaN(v)));
});

test('mx: shape and length errors name the required size', () => {
  assert.throws(() => quantizeMx('mxfp4', new Float32Array(16), 1, 16, 'floor'), /multiple of 32/);
  assert.throws(() => quantizeMx('mxfp8', new Float32Array(32), 2, 32, 'ceil'), isBadArgument);
  assert.throws(() => quantizeMx('mxfp8', new Float32Array(32).fill(Infinity), 1, 32, 'ceil'), isBadArgument);
  const m: MxMatrix = { dtype: 'mxfp8', rows: 2, cols: 32, data: new Uint8Array(64), blockScales: new Uint8Array(2) };
  assert.throws(() => decodeMxRow(m, 2, new Float32Array(32)), isBadArgument);
  assert.throws(() => decodeMxRow({ ...m, data: new Uint8Array(63) }, 0, new Float32Array(32)), isBadArgument);
  assert.throws(() => decodeMxRow({ ...m, dtype: 'mxfp4', blockScales: new Uint8Array(1) }, 0, new Float32Array(32)), isBadArgument);
  assert.throws(() => decodeMxRow(m, 0, new Float32Array(32), 1), isBadArgument);
});

/**
 * Round trip bound, per element, with X the block scale and v = |x| / X (exact: X is a power of two):
 *   MXFP4: half the local E2M1 gap (0.25 / 0.5 / 1 for v ≤ 2 / 4 / 6) plus clipping v − 6, times X. The floor rule
 *          puts the block amax at v ∈ [4, 8), so clipping is < 2·X; the round-up rule has v ≤ 6 and never clips.
 *   MXFP8: half an E4M3 ulp, ≤ 2^-4·|x| for v ≥ 2^-6 and ≤ 2^-10·X below, plus clipping v − 448 (floor only, < 64·X).
 * Blocks span magnitudes 1e-6 .. 1e6.
 */
test('mx: quantize → dequantize round trip stays within the derived bound (both formats, both rules)', () => {
  const x = scaledBlocks(0x3a3a, 512, -6, 6, (r) => r() + r() + r() - 1.5);
  for (const format of ['mxfp4', 'mxfp8'] as const) {
    for (const rule of ['floor', 'ceil'] as const) {
      const { m, y } = roundTrip(format, x, 256, rule);
      let worst = 0;
      let worstClip = 0;
      let nClipped = 0;
      for (let i = 0; i < x.length; i++) {
        const X = e8m0ToF32(m.blockScales[Math.floor(i / 32)]!);
        const v = Math.abs(x[i]!) / X;
        const max = format === 'mxfp4' ? 6 : 448;
        const clip = Math.max(0, v - max);
        const err = Math.abs(x[i]! - y[i]!);
        const round = format === 'mxfp4' ? (v <= 2 ? 0.25 : v <= 4 ? 0.5 : 1) * X : v >= 2 ** -6 ? 2 ** -4 * Math.min(v, max) * X : 2 ** -10 * X;
        assert.ok(err <= round + clip * X, `${format} ${rule} element ${i}: error ${err}`);
        if (clip > 0) nClipped++;
        worstClip = Math.max(worstClip, clip);
        worst = Math.max(worst, clip > 0 ? 0 : format === 'mxfp4' ? err / X : err / Math.max(Math.abs(x[i]!), 2 ** -6 * X));
      }
      assert.ok(rule === 'ceil' ? nClipped === 0 : worstClip < (format === 'mxfp4' ? 2 : 64));
      const { rmse } = errors(x, y);
      const rms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
      console.log(
        `${format} ${rule} round trip: worst unclipped |err| = ${worst.toFixed(4)}${format === 'mxfp4' ? '·X (bound 1)' : ' relative (bound 0.0625)'}, ` +
          `${nClipped} clipped (worst ${worstClip.toFixed(3)}·X), RMSE / RMS = ${(rmse / rms).toFixed(4)}`,
      );
    }
  }
});
