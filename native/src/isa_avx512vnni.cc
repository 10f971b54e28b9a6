// The AVX-512 set plus integer kernels for Q8_0-quantized activations on Q8_0 / Q4_0 weights (AVX-512 VNNI), as
// llama.cpp computes them: per 32-column block, Σ code_w · code_x exactly in int32, then × d_w · d_x in f32.
// vpdpbusd multiplies unsigned bytes by signed bytes, so the weights go in unsigned (Q4_0 nibbles as they are,
// Q8_0 codes + 128) and the activation code sums × the offset (8 or 128) are subtracted: QuantX::corr.
#include "common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
#endif

namespace tandem {
namespace {
constexpr int kMG = 2, kNR = 12, kDirect = 3, kKC = 256;
#include "v512.inc"
#include "kernels.inc"

constexpr int kQNR = 8;  // tokens per int8 micro-tile
constexpr int kQTC = 64;  // tokens per chunk (their codes stay in L2 while every group of the range streams by)

inline __m512i bx(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// One group (16 rows) × N tokens of a token block starting at t0, over all blocks of the row.
template <int FMT, int N>
void q8tile(const Packed& w, int g, const QuantX& q, int t0, float* out) {
  const int nb = w.colsP / 32;
  const size_t bb = blockBytes16(FMT);
  const uint8_t* gp = w.data + size_t(g) * w.groupBytes;
  const int8_t* xc = q.codes + size_t(t0) * w.colsP;
  const float* dx = q.d + size_t(t0) * nb;
  const int32_t* corr = q.corr + size_t(t0) * nb;
  __m512 acc[N];
  TANDEM_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; b++) {
    const uint8_t* base = gp + size_t(b) * bb;
    const int8_t* xb = xc + size_t(b) * 32 * N;
    __m512i ia[N], ib[N];
    TANDEM_UNROLL for (int t = 0; t < N; t++) ia[t] = _mm512_set1_epi32(-corr[b * N + t]), ib[t] = _mm512_setzero_si512();
    if (FMT == Q8_0) {
      const __m512i flip = _mm512_set1_epi8(char(0x80));
      TANDEM_UNROLL for (int k = 0; k < 8; k += 2) {
        const __m512i w0 = _mm512_xor_si512(_mm512_loadu_si512(base + 32 + k * 64), flip);
        const __m512i w1 = _mm512_xor_si512(_mm512_loadu_si512(base + 96 + k * 64), flip);
        TANDEM_UNROLL for (int t = 0; t < N; t++) {
          ia[t] = _mm512_dpbusd_epi32(ia[t], w0, bx(xb + (k * N + t) * 4));
          ib[t] = _mm512_dpbusd_epi32(ib[t], w1, bx(xb + ((k + 1) * N + t) * 4));
        }
      }
    } else {
      const __m512i lo4 = _mm512_set1_epi8(0x0f);
      TANDEM_UNROLL for (int k = 0; k < 4; k++) {
        const __m512i raw = _mm512_loadu_si512(base + 32 + k * 64);
        const __m512i lo = _mm512_and_si512(raw, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), lo4);
        TANDEM_UNROLL for (int t = 0; t < N; t++) {
          ia[t] = _mm512_dpbusd_epi32(ia[t], lo, bx(xb + (k * N + t) * 4));
          ib[t] = _mm512_dpbusd_epi32(ib[t], hi, bx(xb + ((k + 4) * N + t) * 4));
        }
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base)));
    TANDEM_UNROLL for (int t = 0; t < N; t++) {
      const __m512 s = _mm512_cvtepi32_ps(_mm512_add_epi32(ia[t], ib[t]));
      acc[t] = _mm512_fmadd_ps(s, _mm512_mul_ps(dw, _mm512_set1_ps(dx[b * N + t])), acc[t]);
    }
  }
  TANDEM_UNROLL for (int t = 0; t < N; t++) storeRows(out + size_t(t) * w.rows, V{acc[t]}, validRows(w, g));
}

// NVFP4: per 64-column block 4 sub-blocks of 16 columns with their own scales. The codes become E2M1 ×2 + 12 ∈
// [0, 24] through a 16-byte table (vpshufb), Σ over each sub-block in int32 (12 × Σ codes_x taken back out via
// corr16), then × (half the UE4M3 scale · d_x) in f32.
template <int N>
void q8tileNvfp4(const Packed& w, int g, const QuantX& q, int t0, float* out) {
  const int nb = w.colsP / 64, nb32 = w.colsP / 32;
  const uint8_t* gp = w.data + size_t(g) * w.groupBytes;
  const int8_t* xc = q.codes + size_t(t0) * w.colsP;
  const float* dx = q.d + size_t(t0) * nb32;
  const int32_t* corr = q.corr16 + size_t(t0) * nb32 * 2;
  const __m512i tbl = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
  const __m512i lo4 = _mm512_set1_epi8(0x0f);
  __m512 acc[N];
  TANDEM_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; b++) {
    const uint8_t* base = gp + size_t(b) * blockBytes16(NVFP4);
    TANDEM_UNROLL for (int s = 0; s < 4; s++) {
      const int b32 = 2 * b + (s >> 1), k = (s & 1) * 4;  // the activation block and its first quad of this sub-block
      const int8_t* xb = xc + size_t(b32) * 32 * N;
      const __m512i r0 = _mm512_loadu_si512(base + 64 + (2 * s) * 64), r1 = _mm512_loadu_si512(base + 128 + (2 * s) * 64);
      const __m512i l0 = _mm512_shuffle_epi8(tbl, _mm512_and_si512(r0, lo4)), l1 = _mm512_shuffle_epi8(tbl, _mm512_and_si512(r1, lo4));
      const __m512i h0 = _mm512_shuffle_epi8(tbl, _mm512_and_si512(_mm512_srli_epi16(r0, 4), lo4));
      const __m512i h1 = _mm512_shuffle_epi8(tbl, _mm512_and_si512(_mm512_srli_epi16(r1, 4), lo4));
      const __m512 dw = vue4m3(base + 16 * s).v;
      TANDEM_UNROLL for (int t = 0; t < N; t++) {
        __m512i ia = _mm512_set1_epi32(-corr[(2 * b32 + (s & 1)) * N + t]);
        ia = _mm512_dpbusd_epi32(ia, l0, bx(xb + ((k + 0) * N + t) * 4));
        ia = _mm512_dpbusd_epi32(ia, l1, bx(xb + ((k + 1) * N + t) * 4));
        ia = _mm512_dpbusd_epi32(ia, h0, bx(xb + ((k + 2) * N + t) * 4));
        ia = _mm512_dpbusd_epi32(ia, h1, bx(xb + ((k + 3) * N + t) * 4));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia), _mm512_mul_ps(dw, _mm512_set1_ps(dx[b32 * N + t])), acc[t]);
      }
    }
  }
  TANDEM_UNROLL for (int t = 0; t < N; t++) storeRows(out + size_t(t) * w.rows, V{acc[t]}, validRows(w, g));
}

template <int FMT, int N> struct Q8At {
  static void run(int n, const Packed& w, int g, const QuantX& q, int t0, float* out) {
    if (n == N) {
      if constexpr (FMT == NVFP4) q8tileNvfp4<N>(w, g, q, t0, out);
      else q8tile<FMT, N>(w, g, q, t0, out);
    }
    else Q8At<FMT, N - 1>::run(n, w, g, q, t0, out);
  }
};
template <int FMT> struct Q8At<FMT, 0> {
  static void run(int, const Packed&, int, const QuantX&, int, float*) {}
};

// quantizeTokenQ8 (pack.cc) on 2 × 16 lanes per block; the same IEEE operations, so the same codes and scales.
bool quantTok(const float* x, int cols, int n, int t, int8_t* codes, float* d, int32_t* corr, int32_t* corr16, int32_t offset) {
  const __m512 fmax = _mm512_set1_ps(3.402823466e38f);
  for (int b = 0; b < cols / 32; b++) {
    const __m512 a = _mm512_loadu_ps(x + 32 * b), c = _mm512_loadu_ps(x + 32 * b + 16);
    const __m512 aa = _mm512_abs_ps(a), ca = _mm512_abs_ps(c);
    if (_mm512_cmp_ps_mask(aa, fmax, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(ca, fmax, _CMP_NLE_UQ)) return false;  // Inf, NaN
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(aa, ca));
    d[b * n + t] = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512 id = _mm512_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
    const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, id)), qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, id));  // MXCSR: nearest even
    if (corr16) {
      const int32_t lo = _mm512_reduce_add_epi32(qa), hi = _mm512_reduce_add_epi32(qc);
      corr[b * n + t] = offset * (lo + hi), corr16[(2 * b) * n + t] = offset * lo, corr16[(2 * b + 1) * n + t] = offset * hi;
    } else {
      corr[b * n + t] = offset * _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
    }
    alignas(16) int8_t q[32];
    _mm_store_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(qa));
    _mm_store_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(qc));
    for (int k = 0; k < 8; k++) std::memcpy(codes + (size_t(b) * 8 + k) * n * 4 + size_t(t) * 4, q + 4 * k, 4);
  }
  return true;
}

template <int FMT>
void q8gemm(const MatArgs& a, int g0, int g1, float*) {
  const Packed& w = *a.w;
  for (int tc = 0; tc < a.T; tc += kQTC) {
    const int te = a.T - tc < kQTC ? a.T : tc + kQTC;
    for (int g = g0; g < g1; g++) {
      for (int t0 = tc; t0 < te; t0 += kQNR) {
        const int n = te - t0 < kQNR ? te - t0 : kQNR;
        Q8At<FMT, kQNR>::run(n, w, g, a.qx, t0, a.out + size_t(t0) * w.rows + g * 16);
      }
    }
  }
}

constexpr KernelSet kSet = {
    "avx512-vnni", kMG, kNR, kDirect, size_t(kKC) * 16 * kMG, TANDEM_FMT_TABLE(direct), TANDEM_FMT_TABLE(gemm),
    {nullptr, nullptr, nullptr, q8gemm<Q8_0>, q8gemm<Q4_0>, q8gemm<NVFP4>}, kQNR, quantTok, roundActAvx2,
};
}  // namespace
}  // namespace tandem

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const tandem::KernelSet* tandem::kernelsAvx512Vnni() { return &kSet; }
#else
const tandem::KernelSet* tandem::kernelsAvx512Vnni() { return nullptr; }
#endif
