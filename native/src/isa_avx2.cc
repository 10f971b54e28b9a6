// The AVX2 kernel set (AVX2 + FMA + F16C: Haswell / Zen 1 and later), compiled for that target here only.
#include "common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace tandem {
namespace {
constexpr int kMG = 1, kNR = 6, kDirect = 3, kKC = 256;

// 16 lanes as two ymm.
struct V { __m256 a, b; };
inline V vzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline V vload(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v.a), _mm256_storeu_ps(p + 8, v.b); }
inline __m256i maskN(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
inline V vloadN(const float* p, int n) { return {_mm256_maskload_ps(p, maskN(n)), _mm256_maskload_ps(p + 8, maskN(n - 8))}; }
inline void vstoreN(float* p, V v, int n) { _mm256_maskstore_ps(p, maskN(n), v.a), _mm256_maskstore_ps(p + 8, maskN(n - 8), v.b); }
inline V vset1(float f) { const __m256 s = _mm256_set1_ps(f); return {s, s}; }
inline V vfma(V x, V y, V z) { return {_mm256_fmadd_ps(x.a, y.a, z.a), _mm256_fmadd_ps(x.b, y.b, z.b)}; }
inline V vadd(V x, V y) { return {_mm256_add_ps(x.a, y.a), _mm256_add_ps(x.b, y.b)}; }
inline V vmul(V x, V y) { return {_mm256_mul_ps(x.a, y.a), _mm256_mul_ps(x.b, y.b)}; }
inline __m128i load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
inline V vhalf(const uint8_t* p) { return {_mm256_cvtph_ps(load128(p)), _mm256_cvtph_ps(load128(p + 16))}; }
inline __m256 bf8(const uint8_t* p) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16)); }
inline V vbf16(const uint8_t* p) { return {bf8(p), bf8(p + 16)}; }
struct Q { __m256i a, b; };
inline Q qload(const uint8_t* p) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32))};
}
template <int I> inline __m256 s8(__m256i x) { return _mm256_cvtepi32_ps(_mm256_srai_epi32(I == 3 ? x : _mm256_slli_epi32(x, 24 - 8 * I), 24)); }
template <int I> inline V qs8(Q q) { return {s8<I>(q.a), s8<I>(q.b)}; }
template <int S> inline __m256 nib(__m256i x) {
  const __m256i t = _mm256_and_si256(S == 0 ? x : _mm256_srli_epi32(x, S), _mm256_set1_epi32(15));
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(t, _mm256_set1_epi32(8)));
}
template <int S> inline V qnib(Q q) { return {nib<S>(q.a), nib<S>(q.b)}; }
// E2M1 ×2 of nibble S: the magnitude from an 8-entry permute (low 3 bits), the sign from bit 3.
template <int S> inline __m256 fp4(__m256i x) {
  const __m256 mag = _mm256_setr_ps(0, 1, 2, 3, 4, 6, 8, 12);
  const __m256i n = S == 0 ? x : _mm256_srli_epi32(x, S);
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(n, _mm256_set1_epi32(8)), 28);
  return _mm256_xor_ps(_mm256_permutevar8x32_ps(mag, n), _mm256_castsi256_ps(sign));
}
template <int S> inline V qfp4(Q q) { return {fp4<S>(q.a), fp4<S>(q.b)}; }
inline __m256 ue8(const uint8_t* p) {
  const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(b, 20)), _mm256_set1_ps(kUe4m3Mul));
}
inline V vue4m3(const uint8_t* p) { return {ue8(p), ue8(p + 8)}; }

#include "kernels.inc"
constexpr KernelSet kSet = {
    "avx2", kMG, kNR, kDirect, size_t(kKC) * 16 * kMG, TANDEM_FMT_TABLE(direct), TANDEM_FMT_TABLE(gemm), {}, 0, nullptr, roundActAvx2,
};
}  // namespace

// roundActBaseline with 8 lanes: F16C's conversion rounds to nearest even like f32ToF16; bf16 as f32ToBf16.
void roundActAvx2(float* x, size_t n, int act) {
  size_t i = 0;
  const __m256i absMask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000), hi = _mm256_set1_epi32(int(0xffff0000u));
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (act == ACT_F16) {
      _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
      continue;
    }
    const __m256i u = _mm256_castps_si256(v);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absMask), inf);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    const __m256i quiet = _mm256_or_si256(u, _mm256_set1_epi32(0x400000));
    _mm256_storeu_ps(x + i, _mm256_castsi256_ps(_mm256_and_si256(_mm256_blendv_epi8(rounded, quiet, nan), hi)));
  }
  roundActBaseline(x + i, n - i, act);
}
}  // namespace tandem

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const tandem::KernelSet* tandem::kernelsAvx2() { return &kSet; }
#else
const tandem::KernelSet* tandem::kernelsAvx2() { return nullptr; }
#endif
