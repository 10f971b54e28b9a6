/**
 * FP8: OCP 8-bit floats, one byte per element (safetensors `F8_E4M3`, `F8_E5M2`).
 *
 * Byte layout, sign-magnitude, bit 7 = sign:
 *   E4M3 ("e4m3fn")  s eeee mmm, bias 7.  E = 0: subnormal m/8 · 2^-6 (min 2^-9). E = 1..15: (1 + m/8) · 2^(E-7).
 *                    No Inf; only S.1111.111 (0x7F / 0xFF) is NaN, so E = 15 is an ordinary binade up to
 *                    0x7E = 1.75 · 2^8 = 448, the largest finite value.
 *   E5M2             s eeeee mm, bias 15 (IEEE-style). E = 0: subnormal m/4 · 2^-14 (min 2^-16). E = 31: m = 0 is
 *                    Inf (0x7C / 0xFC), m ≠ 0 NaN. Largest finite 0x7B = 1.75 · 2^15 = 57344.
 * A scaled FP8 tensor (ModelOpt FP8, `Fp8Matrix`) is `x ≈ fp32(code) · scale`, with one FP32 decode scale per tensor
 * or per output row.
 *
 * Encoding (FP32 → FP8) is round-to-nearest-even on the FP32 bit pattern, a port of PyTorch's c10
 * `fp8e4m3fn_from_fp32_value` / `fp8e5m2_from_fp32_value`. Inputs are rounded to FP32 first.
 *   saturate = true  (default; what `cvt.rn.satfinite` kernels do): |x| is clamped to 448 / 57344 *before* rounding, so a
 *                    finite (or infinite) input never becomes NaN; NaN stays NaN.
 *   saturate = false (PyTorch `tensor.to(float8_*)`): E4M3: |x| ≥ 480, and anything that rounds above 448 (|x| > 464;
 *                    464 is a tie and goes to the even code 0x7E) → 0x7F NaN. E5M2: |x| ≥ 61440 (the tie between 57344
 *                    and the Inf pattern, which is even) → 0x7C Inf.
 * Division by the decode scale (`x / scale`) is used throughout, as ModelOpt does; kernels that multiply by a
 * precomputed reciprocal can differ from this by one code, at exact ties only.
 */
import { TandemError } from '../../errors.js';
import type { Fp8Matrix } from '../tensor.js';

export type Fp8Format = 'e4m3' | 'e5m2';

export const E4M3_MAX = 448;
export const E5M2_MAX = 57344;

const fround = Math.fround;
const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

function bitsOf(x: number): number {
  scratchF[0] = x;
  return scratchU[0]!;
}

function floatOf(bits: number): number {
  scratchU[0] = bits >>> 0;
  return scratchF[0]!;
}

/** Decode rule of §1.1 for a minifloat with `e` exponent bits, `m` mantissa bits and the given bias (no specials). */
function minifloat(code: number, e: number, m: number, bias: number): number {
  const sign = code & (1 << (e + m)) ? -1 : 1;
  const exp = (code >>> m) & ((1 << e) - 1);
  const man = code & ((1 << m) - 1);
  const mag = exp === 0 ? (man / (1 << m)) * 2 ** (1 - bias) : (1 + man / (1 << m)) * 2 ** (exp - bias);
  return sign * mag;
}

const E4M3_TABLE = new Float32Array(256);
const E5M2_TABLE = new Float32Array(256);
for (let c = 0; c < 256; c++) {
  E4M3_TABLE[c] = (c & 0x7f) === 0x7f ? NaN : minifloat(c, 4, 3, 7);
  const e5 = (c >>> 2) & 0x1f;
  E5M2_TABLE[c] = e5 === 31 ? ((c & 3) === 0 ? (c & 0x80 ? -Infinity : Infinity) : NaN) : minifloat(c, 5, 2, 15);
}

/** The FP32 value of an E4M3 byte (0x7F / 0xFF are NaN). */
export function e4m3ToF32(code: number): number {
  return E4M3_TABLE[code & 0xff]!;
}

/** The FP32 value of an E5M2 byte (0x7C / 0xFC are ±Inf, 0x7D..0x7F / 0xFD..0xFF NaN). */
export function e5m2ToF32(code: number): number {
  return E5M2_TABLE[code & 0xff]!;
}

/** FP32 → E4M3 byte, round to nearest even; see the header for `saturate`. */
export function f32ToE4m3(x: number, saturate = true): number {
  let bits = bitsOf(x);
  const sign = (bits >>> 24) & 0x80;
  bits &= 0x7fffffff;
  if (saturate && bits > 0x43e00000 && bits <= 0x7f800000) bits = 0x43e00000; // |x| > 448 (incl. Inf) → 448
  let code: number;
  if (bits >= 0x43f00000) {
    code = 0x7f; // ≥ 480, Inf or NaN
  } else if (bits < 0x3c800000) {
    // below 2^-6: subnormal. Adding 2^14 makes the FPU round at 2^-9 granularity (RNE); the low bits are the code.
    code = bitsOf(floatOf(bits) + 16384) - 0x46800000;
  } else {
    const odd = (bits >>> 20) & 1;
    code = ((bits + (((7 - 127) << 23) >>> 0) + 0x7ffff + odd) >>> 20) & 0xff;
  }
  return code | sign;
}

/** FP32 → E5M2 byte, round to nearest even; see the header for `saturate`. */
export function f32ToE5m2(x: number, saturate = true): number {
  let bits = bitsOf(x);
  const sign = (bits >>> 24) & 0x80;
  bits &= 0x7fffffff;
  if (saturate && bits > 0x47600000 && bits <= 0x7f800000) bits = 0x47600000; // |x| > 57344 (incl. Inf) → 57344
  let code: number;
  if (bits >= 0x47800000) {
    code = bits > 0x7f800000 ? 0x7f : 0x7c; // ≥ 65536 or Inf → Inf, NaN → NaN
  } else if (bits < 0x38800000) {
    // below 2^-14: subnormal; adding 2^7 rounds at 2^-16 granularity.
    code = bitsOf(floatOf(bits) + 128) - 0x43000000;
  } else {
    const odd = (bits >>> 21) & 1;
    code = ((bits + (((15 - 127) << 23) >>> 0) + 0xfffff + odd) >>> 21) & 0xff;
  }
  return code | sign;
}

function tableOf(format: Fp8Format): Float32Array {
  return format === 'e4m3' ? E4M3_TABLE : E5M2_TABLE;
}

/** Decodes `count` FP8 bytes of `src` into `out[outOffset ..]`, each multiplied by the decode `scale`. */
export function decodeFp8(format: Fp8Format, src: Uint8Array, count: number, out: Float32Array, outOffset = 0, scale = 1): void {
  if (!Number.isInteger(count) || count < 0 || src.length < count || out.length < outOffset + count) {
    throw new TandemError(
      'BAD_ARGUMENT',
      `decodeFp8: ${count} values need ${count} bytes (have ${src.length}) and ${outOffset + count} output slots (have ${out.length})`,
    );
  }
  const table = tableOf(format);
  if (scale === 1) {
    for (let i = 0; i < count; i++) out[outOffset + i] = table[src[i]!]!;
  } else {
    for (let i = 0; i < count; i++) out[outOffset + i] = table[src[i]!]! * scale;
  }
}

/** Encodes `src · encodeScale` to FP8 bytes, saturating. */
export function encodeFp8(format: Fp8Format, src: Float32Array, encodeScale = 1): Uint8Array {
  const out = new Uint8Array(src.length);
  const enc = format === 'e4m3' ? f32ToE4m3 : f32ToE5m2;
  for (let i = 0; i < src.length; i++) out[i] = enc(fround(src[i]! * encodeScale), true);
  return out;
}

/** Decodes row `row` of an FP8 matrix (per-tensor or per-row decode scale) into `out[outOffset ..]`. */
export function decodeFp8Row(m: Fp8Matrix, row: number, out: Float32Array, outOffset = 0): void {
  if (!Number.isInteger(row) || row < 0 || row >= m.rows) {
    throw new TandemError('BAD_ARGUMENT', `decodeFp8Row: row ${row} is outside a matrix of ${m.rows} rows`);
  }
  if (m.scale.length !== 1 && m.scale.length !== m.rows) {
    throw new TandemError('BAD_ARGUMENT', `decodeFp8Row: scale needs 1 (per tensor) or ${m.rows} (per row) values, got ${m.scale.length}`);
  }
  if (m.data.length < m.rows * m.cols) {
    throw new TandemError('BAD_ARGUMENT', `decodeFp8Row: ${m.rows}×${m.cols} FP8 needs ${m.rows * m.cols} bytes, got ${m.data.length}`);
  }
  const scale = m.scale.length === 1 ? m.scale[0]! : m.scale[row]!;
  const format = m.dtype === 'f8_e4m3' ? 'e4m3' : 'e5m2';
  decodeFp8(format, m.data.subarray(row * m.cols, (row + 1) * m.cols), m.cols, out, outOffset, scale);
}

/** max |x[i]| over the first `n` elements; NaN as soon as one is NaN (±Inf gives Inf). Shared with nvfp4.ts. */
export function absMax(x: ArrayLike<number>, n: number): number {
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(x[i]!);
    if (a !== a) return NaN;
    if (a > amax) amax = a;
  }
  return amax;
}

/**
 * Per-tensor current scaling as ModelOpt exports FP8 weights: decode scale = amax / max (448 for E4M3, 57344 for
 * E5M2; 1 when amax is 0), codes = fp8(x / scale), saturating. Non-finite input is rejected.
 */
export function quantizeFp8PerTensor(src: Float32Array, format: Fp8Format = 'e4m3'): { data: Uint8Array; scale: number } {
  const amax = absMax(src, src.length);
  if (!Number.isFinite(amax)) {
    throw new TandemError('BAD_ARGUMENT', 'quantizeFp8PerTensor: the input holds a non-finite value (amax is not finite)');
  }
  const max = format === 'e4m3' ? E4M3_MAX : E5M2_MAX;
  const scale = amax === 0 ? 1 : fround(amax / max);
  const enc = format === 'e4m3' ? f32ToE4m3 : f32ToE5m2;
  const data = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = enc(fround(src[i]! / scale), true);
  return { data, scale };
}

/**
 * W8A8 activation emulation: replaces `x[0 .. n)` in place by E4M3 quantize → dequantize with decode scale `scale`
 * (0 = dynamic: this call's amax / 448). Values beyond 448·scale saturate, as in a `satfinite` kernel.
 */
export function fp8FakeQuant(x: Float32Array, n: number, scale: number): void {
  if (!Number.isInteger(n) || n < 0 || n > x.length) {
    throw new TandemError('BAD_ARGUMENT', `fp8FakeQuant: n = ${n} must be an integer in 0..${x.length}`);
  }
  if (!(scale >= 0) || !Number.isFinite(scale)) {
    throw new TandemError('BAD_ARGUMENT', `fp8FakeQuant: scale must be a finite number ≥ 0 (0 = dynamic), got ${scale}`);
  }
  let s = fround(scale);
  if (s === 0) {
    const amax = absMax(x, n);
    if (amax === 0 || !Number.isFinite(amax)) return; // all zeros stay zeros; non-finite activations pass through
    s = fround(amax / E4M3_MAX);
  }
  for (let i = 0; i < n; i++) x[i] = E4M3_TABLE[f32ToE4m3(fround(x[i]! / s), true)]! * s;
}
