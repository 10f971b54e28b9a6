/**
 * E8M0 (UE8M0, PyTorch `float8_e8m0fnu`): the shared power-of-two scale of OCP MX blocks, one byte.
 *
 * Byte layout: 8 exponent bits, no sign, no mantissa, bias 127 (the same as FP32's, so a power of two's byte is its
 * FP32 exponent field). byte b in 0..254 → 2^(b − 127): 0x00 = 2^-127 (it cannot encode 0), 0x7F = 1, 0xFE = 2^127.
 * 0xFF is NaN (a NaN scale makes the whole block NaN).
 *
 * The two scale rules (spec §2.2), for a block's amax and the element format's largest value:
 *   floor (OCP text, microxcaling, ggml): shared_exp = floor(log2 amax) − emax_elem, emax_elem = the exponent of
 *         the element format's largest normal (E2M1: 2, E4M3: 8, E5M2: 15). Can clip: amax / X ∈ [2^emax, 2^(emax+1)).
 *   ceil  (TE, ModelOpt, triton_kernels, DeepSeek UE8M0): shared_exp = ceil(log2(amax / max_elem)), max_elem = 6 (E2M1),
 *         448 (E4M3); never clips.
 * Both clamp shared_exp below at −127, map amax = 0 to byte 0x00, and give 0xFF (NaN) above 127 or for a non-finite
 * amax. log2 is taken exactly from the FP32 bit pattern (amax, and amax / max_elem, are rounded to FP32 first), which
 * is what TE's "exponent, plus one if the mantissa is non-zero" rounding does; ModelOpt's float `log2` can round a
 * value within an ulp or two above a power of two down onto it and so pick the smaller scale there.
 */

/** The FP32 value of an E8M0 byte (0xFF = NaN). */
export function e8m0ToF32(byte: number): number {
  const b = byte & 0xff;
  return b === 0xff ? NaN : 2 ** (b - 127);
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** floor(log2 x) and whether x is an exact power of two, for finite x > 0 rounded to FP32 (subnormals included). */
export function log2Parts(x: number): { floor: number; exact: boolean } {
  scratchF[0] = x;
  const bits = scratchU[0]! & 0x7fffffff;
  const exp = bits >>> 23;
  const man = bits & 0x7fffff;
  if (exp !== 0) return { floor: exp - 127, exact: man === 0 };
  const top = 31 - Math.clz32(man); // subnormal: man · 2^-149, highest set bit at position `top`
  return { floor: top - 149, exact: (man & (man - 1)) === 0 };
}

function toByte(sharedExp: number): number {
  if (sharedExp > 127) return 0xff;
  return Math.max(sharedExp, -127) + 127;
}

/** OCP floor rule: the E8M0 byte of 2^(floor(log2 amax) − emaxElem). */
export function mxScaleFloor(amax: number, emaxElem: number): number {
  if (!Number.isFinite(amax)) return 0xff;
  const a = Math.fround(Math.abs(amax));
  if (a === 0) return 0;
  return toByte(log2Parts(a).floor - emaxElem);
}

/** Round-up rule: the E8M0 byte of 2^ceil(log2(amax / maxElem)). */
export function mxScaleCeil(amax: number, maxElem: number): number {
  if (!Number.isFinite(amax)) return 0xff;
  const q = Math.fround(Math.abs(amax) / maxElem);
  if (q === 0) return 0; // amax 0, or so small that amax / maxElem underflows: both clamp to 2^-127
  const { floor, exact } = log2Parts(q);
  return toByte(exact ? floor : floor + 1);
}
