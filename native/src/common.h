// Shared declarations of the native backend: the packed weight layout ("G16"), the per-ISA kernel table and the
// half-precision helpers. Nothing here is ISA-specific; see kernels.inc for the kernels and isa_*.cc for the builds.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tandem {

// Weight formats with native kernels; ids shared with src/numerics/native/layout.ts.
enum Fmt : int { F32 = 0, F16 = 1, BF16 = 2, Q8_0 = 3, Q4_0 = 4, NVFP4 = 5 };
constexpr int kNumFmts = 6;

// G16 layout: rows in groups of 16 (the last one zero-padded); per column block, the 16 rows' scales first, then the
// 16 rows' codes, so every kernel reads one sequential stream per group.
//   F32   per column:            16 × f32                                   (64 bytes)
//   F16   per column:            16 × f16                                   (32 bytes)
//   BF16  per column:            16 × bf16                                  (32 bytes)
//   Q8_0  per 32 columns:        16 × f16 d, then 8 quads × (16 rows × 4 int8 codes)               (32 + 512 bytes)
//   Q4_0  per 32 columns:        16 × f16 d, then 4 quads × (16 rows × 4 bytes); byte i of quad k of a row is the
//                                ggml byte qs[4k + i]: column 4k + i in its low nibble, 16 + 4k + i in its high one
//                                (32 + 256 bytes)
//   NVFP4 per 64 columns (ggml NVFP4, one 36-byte block per row): 4 sub-blocks × 16 rows' UE4M3 scale bytes ([s][row];
//                                0x7F → 0, bit 7 cleared, so the kernels decode them without special cases), then
//                                8 quads × (16 rows × 4 bytes): quad 2s + h of a row is the ggml bytes qs[8s + 4h ..
//                                8s + 4h + 3]: sub-block columns 4h + i in the low nibbles, 8 + 4h + i in the high ones
//                                (64 + 512 bytes)
// Float formats pad columns to a multiple of 4 (zeros), block formats need whole blocks.
struct Packed {
  int fmt;
  int rows, cols, colsP, groups;
  size_t groupBytes;
  uint8_t* data;  // groups × groupBytes, 64-byte aligned
};

// Columns per block (the column padding unit) and bytes of one block of 16 rows.
inline int blockCols(int fmt) { return fmt == NVFP4 ? 64 : fmt == Q8_0 || fmt == Q4_0 ? 32 : 4; }
inline size_t blockBytes16(int fmt) {
  switch (fmt) {
    case F32: return 4 * 64;
    case F16: case BF16: return 4 * 32;
    case Q8_0: return 32 + 512;
    case NVFP4: return 64 + 512;
    default: return 32 + 256;  // Q4_0
  }
}

// The ggml E2M1 values doubled (kvalues_mxfp4), indexed by the 4-bit code.
constexpr int8_t kFp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// Half the UE4M3 value of a packed (sanitized) NVFP4 scale byte, as ggml_ue4m3_to_fp32: the byte's 7 bits placed as
// an f32's exponent (4 bits) and top mantissa (3 bits), × 2^119 (the bias difference and the halving; subnormal
// codes come out exact as f32 subnormals × 2^119).
constexpr float kUe4m3Mul = 6.6461399789245794e35f;  // 2^119
inline float ue4m3Half(uint8_t b) {
  const uint32_t bits = uint32_t(b & 0x7f) << 20;
  float f;
  std::memcpy(&f, &bits, 4);
  return f * kUe4m3Mul;
}

// Activations quantized for the int8 kernels (ggml Q8_0: per 32 columns an f32 scale and the code sum), packed per
// token block of `nb` tokens: codes [block][quad k][token][4 bytes], scales and offset corrections [block][token].
struct QuantX {
  const int8_t* codes;
  const float* d;
  const int32_t* corr;  // offset × Σ codes of the block (the kernels' unsigned weights carry +offset)
  const int32_t* corr16;  // offset × Σ codes of each 16-column half: [block][half][token] (NVFP4 scales per 16)
  int nr;               // tokens per token block
};

// One matmul, as every kernel sees it. out[t, r] = Σ_c x[t, c] · W[r, c].
struct MatArgs {
  const Packed* w;
  int T;
  float* out;            // [T, rows]
  const float* x;        // [T, colsP], zero-padded copy (direct kernels) or packed for the GEMM (see packX)
  QuantX qx;             // int8 path only
};

using RangeFn = void (*)(const MatArgs&, int g0, int g1, float* scratch);
// Quantizes token t of a token block of n tokens (x: that token's row of `cols`) into the QuantX layout whose block
// base is codes / d / corr / corr16 (corr16 may be null); false on Inf/NaN.
using QuantFn = bool (*)(const float* x, int cols, int n, int t, int8_t* codes, float* d, int32_t* corr, int32_t* corr16, int32_t offset);

struct KernelSet {
  const char* name;
  int mg;                 // groups per GEMM micro-panel (rows = 16·mg)
  int nr;                 // tokens per GEMM micro-tile
  int direct;             // T ≤ direct runs the fused decode-and-dot kernels on the unpacked x
  size_t scratchFloats;   // per-thread scratch the GEMM needs
  RangeFn directFn[kNumFmts];
  RangeFn gemmFn[kNumFmts];
  // int8 kernels on Q8_0-quantized activations (null where the ISA has none)
  RangeFn q8Fn[kNumFmts];
  int q8nr;
  QuantFn quant;  // null: the baseline quantizeTokenQ8
  void (*roundAct)(float* x, size_t n, int act);  // act 2: round to f16, 3: to bf16 (nearest even); null: baseline
};

// Activation codes of matmul(): 0 none, 1 ggml Q8_0, 2 f16, 3 bf16 (the input as ggml's vec_dot type sees it).
enum Act : int { ACT_NONE = 0, ACT_Q8_0 = 1, ACT_F16 = 2, ACT_BF16 = 3 };
void roundActBaseline(float* x, size_t n, int act);
void roundActAvx2(float* x, size_t n, int act);  // AVX2 + F16C (isa_avx2.cc)

const KernelSet* kernelsScalar();
const KernelSet* kernelsAvx2();    // null when not compiled for x86-64
const KernelSet* kernelsAvx512();  // null when not compiled for x86-64
// The AVX-512 set with the VNNI int8 kernels filled in (null when not compiled for x86-64).
const KernelSet* kernelsAvx512Vnni();

// Exact f16 → f32 and f32 → f16 (round to nearest even), as src/numerics/dtypes/f16.ts.
inline float halfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0x1f) bits = sign | 0x7f800000u | (m << 13);
  else if (e != 0) bits = sign | ((e + 112) << 23) | (m << 13);
  else if (m == 0) bits = sign;
  else {
    e = 113;
    while ((m & 0x400) == 0) { m <<= 1; e--; }
    bits = sign | (e << 23) | ((m & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToHalf(float fl) {
  uint32_t u;
  std::memcpy(&u, &fl, 4);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t o;
  if (u >= (143u << 23)) o = u > (255u << 23) ? 0x7e00 : 0x7c00;  // ≥ 65536: Inf (NaN stays NaN)
  else if (u < (113u << 23)) {                                  // half subnormal or zero
    const uint32_t magicBits = 126u << 23;
    float f, magic;
    std::memcpy(&f, &u, 4);
    std::memcpy(&magic, &magicBits, 4);
    f += magic;
    uint32_t r;
    std::memcpy(&r, &f, 4);
    o = uint16_t(r - magicBits);
  } else {
    const uint32_t odd = (u >> 13) & 1;
    u += (uint32_t(15 - 127) << 23) + 0xfff + odd;
    o = uint16_t(u >> 13);
  }
  return uint16_t(o | (sign >> 16));
}

// ggml's Q8_0 input quantization of one block of 32, bit-exact with src/numerics/wasm/q8-input.ts:
// d = f16(amax / 127), q = round-half-even(x · f32(127 / amax)); sum = Σ q. False on Inf/NaN (the caller then takes
// the reference path, which defines what those produce).
bool quantizeBlockQ8(const float* x, int8_t* codes, float* d, int32_t* sum);
bool quantizeRowQ8(const float* x, int cols, int8_t* codes, float* d, int32_t* sums);
bool quantizeTokenQ8(const float* x, int cols, int n, int t, int8_t* codes, float* d, int32_t* corr, int32_t* corr16, int32_t offset);

}  // namespace tandem
