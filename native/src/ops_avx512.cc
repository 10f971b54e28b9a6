// The ops of ops.h on AVX-512 (compiled for that target here only). The chunked scan is ref's formula as
// three small GEMMs per head and chunk (state-space duality, state-spaces/mamba ssd_minimal):
//   W[i][j] = exp(cs_i − cs_j) · (C_i·B_j) · Δ_j  (j ≤ i)      y = W·X  +  diag(exp cs)·C·Sᵀ  +  D·x
//   S ← exp(cs_last)·S + Uᵀ·B,  U[j] = exp(cs_last − cs_j) · Δ_j · x_j
// with cs the running Σ Δ·A inside the chunk (f64, as ref), exp(cs_i − cs_j) in f32 on the f64 difference.
#include "ops.h"

#include <cmath>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512dq,avx512vl")
#endif

namespace tandem {
namespace {

#define TANDEM_UNROLL _Pragma("GCC unroll 16")

inline __mmask16 mk(int n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }
inline __m512 ld(const float* p, int n) { return _mm512_maskz_loadu_ps(mk(n), p); }
inline void st(float* p, __m512 v, int n) { _mm512_mask_storeu_ps(p, mk(n), v); }
inline __m512 set(float f) { return _mm512_set1_ps(f); }

// e^x, ≈ 1 ulp (Cephes expf: Cody–Waite reduction, degree-6 polynomial, exact scaling by 2^n with vscalefps).
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, set(88.37f)), set(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, set(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, set(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, set(-2.12194440e-4f), r);
  __m512 p = set(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, set(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, set(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, set(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, set(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, set(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, set(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// C[MR rows, ≤ 64 cols] (= or +=) A[MR, K] · B[K, ncol]; rows lda / ldb / ldc apart.
template <int MR>
void tile(const float* A, int lda, int K, const float* B, int ldb, int ncol, float* C, int ldc, bool acc) {
  __m512 c[MR][4];
  TANDEM_UNROLL for (int i = 0; i < MR; i++) {
    TANDEM_UNROLL for (int v = 0; v < 4; v++) c[i][v] = acc ? ld(C + size_t(i) * ldc + 16 * v, ncol - 16 * v) : _mm512_setzero_ps();
  }
  for (int k = 0; k < K; k++) {
    const float* b = B + size_t(k) * ldb;
    __m512 bv[4];
    TANDEM_UNROLL for (int v = 0; v < 4; v++) bv[v] = ld(b + 16 * v, ncol - 16 * v);
    TANDEM_UNROLL for (int i = 0; i < MR; i++) {
      const __m512 a = set(A[size_t(i) * lda + k]);
      TANDEM_UNROLL for (int v = 0; v < 4; v++) c[i][v] = _mm512_fmadd_ps(a, bv[v], c[i][v]);
    }
  }
  TANDEM_UNROLL for (int i = 0; i < MR; i++) {
    TANDEM_UNROLL for (int v = 0; v < 4; v++) st(C + size_t(i) * ldc + 16 * v, c[i][v], ncol - 16 * v);
  }
}

// C[M, ncols] (= or +=) A[M, K] · B[K, ncols]; `lower`: A is lower-triangular (row i uses k ≤ i only).
void gemm(const float* A, int lda, int M, int K, const float* B, int ldb, int ncols, float* C, int ldc, bool acc, bool lower) {
  for (int i0 = 0; i0 < M; i0 += 4) {
    const int mr = M - i0 < 4 ? M - i0 : 4;
    const int k = lower ? (i0 + mr < K ? i0 + mr : K) : K;
    const float* a = A + size_t(i0) * lda;
    for (int c0 = 0; c0 < ncols; c0 += 64) {
      float* c = C + size_t(i0) * ldc + c0;
      const int n = ncols - c0;
      switch (mr) {
        case 4: tile<4>(a, lda, k, B + c0, ldb, n, c, ldc, acc); break;
        case 3: tile<3>(a, lda, k, B + c0, ldb, n, c, ldc, acc); break;
        case 2: tile<2>(a, lda, k, B + c0, ldb, n, c, ldc, acc); break;
        default: tile<1>(a, lda, k, B + c0, ldb, n, c, ldc, acc);
      }
    }
  }
}

size_t scratchFloats(const ScanArgs& a, int L) {
  const size_t l = size_t(L), n = size_t(a.N), p = size_t(a.P);
  const size_t phase2 = 3 * l + l * l + l * n + n * p + p * l + 64;  // cs (f64), Δ (f32), W, exp(cs)·C, Sᵀ, Uᵀ
  return phase2 > n * l + 64 ? phase2 : n * l + 64;
}

void groupProducts(const ScanArgs& a, int t0, int L, int g, float* cb, float* scratch) {
  const int gn = a.G * a.N;
  float* bt = scratch;  // Bᵀ [N, L]
  for (int j = 0; j < L; j++) {
    const float* b = a.B + size_t(t0 + j) * gn + size_t(g) * a.N;
    for (int n = 0; n < a.N; n++) bt[size_t(n) * L + j] = b[n];
  }
  gemm(a.C + size_t(t0) * gn + size_t(g) * a.N, gn, L, a.N, bt, L, L, cb, L, false, false);
}

// W (lower triangle, zeros above) of head h: exp(cs_i − cs_j) · CB[i][j] · Δ_j.
void decayWeights(int L, const double* cs, const float* df, const float* cb, float* W) {
  for (int i = 0; i < L; i++) {
    float* w = W + size_t(i) * L;
    const __m512d ci = _mm512_set1_pd(cs[i]);
    for (int j0 = 0; j0 <= i; j0 += 16) {
      const int n = i + 1 - j0;  // valid columns in this vector (≤ i)
      const __mmask8 m0 = __mmask8(mk(n) & 0xff), m1 = __mmask8(mk(n - 8) & 0xff);
      const __m256 lo = _mm512_cvtpd_ps(_mm512_sub_pd(ci, _mm512_maskz_loadu_pd(m0, cs + j0)));
      const __m256 hi = _mm512_cvtpd_ps(_mm512_sub_pd(ci, _mm512_maskz_loadu_pd(m1, cs + j0 + 8)));
      const __m512 e = exp16(_mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1));
      st(w + j0, _mm512_mul_ps(_mm512_mul_ps(e, ld(cb + size_t(i) * L + j0, n)), ld(df + j0, n)), n);
    }
    std::memset(w + i + 1, 0, sizeof(float) * size_t(L - i - 1));  // the GEMM reads up to the end of its row block
  }
}

void headChunk(const ScanArgs& a, int t0, int L, int h, const float* cb, float* scratch) {
  const int P = a.P, N = a.N, gn = a.G * a.N, xs = a.nh * a.P, g = h / (a.nh / a.G);
  double* cs = reinterpret_cast<double*>(scratch);  // the scratch is 64-byte aligned
  float* df = scratch + 2 * size_t(L);
  float* W = df + L;
  float* Cs = W + size_t(L) * L;
  float* St = Cs + size_t(L) * N;
  float* Ut = St + size_t(N) * P;
  double run = 0;
  for (int i = 0; i < L; i++) {
    const double d = a.delta[size_t(t0 + i) * a.nh + h];
    df[i] = float(d);
    run += d * a.A[h];
    cs[i] = run;
  }
  decayWeights(L, cs, df, cb, W);
  const float* x = a.x + size_t(t0) * xs + size_t(h) * P;
  float* y = a.y + size_t(t0) * xs + size_t(h) * P;
  float* S = a.state + size_t(h) * P * N;
  gemm(W, L, L, L, x, xs, P, y, xs, false, true);  // intra-chunk
  for (int i = 0; i < L; i++) {                   // carried state: exp(cs_i) · C_i · Sᵀ
    const float e = float(std::exp(cs[i]));
    const float* c = a.C + size_t(t0 + i) * gn + size_t(g) * N;
    for (int n = 0; n < N; n++) Cs[size_t(i) * N + n] = e * c[n];
  }
  for (int p = 0; p < P; p++) {
    for (int n = 0; n < N; n++) St[size_t(n) * P + p] = S[size_t(p) * N + n];
  }
  gemm(Cs, N, L, N, St, P, P, y, xs, true, false);
  const float dh = a.D[h];
  for (int i = 0; i < L; i++) {
    for (int p = 0; p < P; p++) y[size_t(i) * xs + p] += dh * x[size_t(i) * xs + p];
  }
  const double last = cs[L - 1];
  for (int j = 0; j < L; j++) {  // Uᵀ[p][j] = exp(cs_last − cs_j) · Δ_j · x_j[p]
    const double w = std::exp(last - cs[j]) * a.delta[size_t(t0 + j) * a.nh + h];
    for (int p = 0; p < P; p++) Ut[size_t(p) * L + j] = float(w * x[size_t(j) * xs + p]);
  }
  const float el = float(std::exp(last));
  for (size_t k = 0; k < size_t(P) * N; k++) S[k] *= el;
  gemm(Ut, L, P, L, a.B + size_t(t0) * gn + size_t(g) * N, gn, N, S, N, true, false);
}

void scanHeads(const ScanArgs& a, int h0, int h1) {
  const int P = a.P, N = a.N, gn = a.G * a.N, xs = a.nh * a.P, hpg = a.nh / a.G;
  for (int h = h0; h < h1; h++) {
    float* S = a.state + size_t(h) * P * N;
    for (int t = 0; t < a.T; t++) {
      const double d = a.delta[size_t(t) * a.nh + h];
      const __m512 dA = set(float(std::exp(d * a.A[h])));
      const float* b = a.B + size_t(t) * gn + size_t(h / hpg) * N;
      const float* c = a.C + size_t(t) * gn + size_t(h / hpg) * N;
      for (int p = 0; p < P; p++) {
        const float xv = a.x[size_t(t) * xs + size_t(h) * P + p];
        const __m512 coef = set(float(d * xv));
        float* s = S + size_t(p) * N;
        __m512 acc = _mm512_setzero_ps();
        for (int n0 = 0; n0 < N; n0 += 16) {
          const int n = N - n0;
          const __m512 sv = _mm512_fmadd_ps(dA, ld(s + n0, n), _mm512_mul_ps(coef, ld(b + n0, n)));
          st(s + n0, sv, n);
          acc = _mm512_fmadd_ps(sv, ld(c + n0, n), acc);
        }
        a.y[size_t(t) * xs + size_t(h) * P + p] = _mm512_reduce_add_ps(acc) + a.D[h] * xv;
      }
    }
  }
}

void convChannels(const ConvArgs& a, const float* wT, int c0, int c1) {
  const int H = a.K - 1, Cd = a.Cd;
  for (int cb = c0; cb < c1; cb += 16) {
    const int n = c1 - cb;
    for (int t = 0; t < a.T; t++) {
      __m512 acc = ld(a.bias + cb, n);
      for (int k = 0; k < a.K; k++) {
        const int j = t + k;
        const float* row = j < H ? a.state + size_t(j) * Cd : a.x + size_t(j - H) * Cd;
        acc = _mm512_fmadd_ps(ld(wT + size_t(k) * Cd + cb, n), ld(row + cb, n), acc);
      }
      const __m512 silu = _mm512_div_ps(acc, _mm512_add_ps(set(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), acc))));
      st(a.out + size_t(t) * Cd + cb, silu, n);
    }
    for (int j = 0; j < H; j++) {  // new state = last H rows of (state ++ x); row T + j > j, so in place is safe
      const int s = a.T + j;
      const float* row = s < H ? a.state + size_t(s) * Cd : a.x + size_t(s - H) * Cd;
      st(a.state + size_t(j) * Cd + cb, ld(row + cb, n), n);
    }
  }
}

void rmsNormRows(const NormArgs& a, int t0, int t1) {
  for (int t = t0; t < t1; t++) {
    for (int g0 = 0; g0 < a.dim; g0 += a.groupSize) {
      const float* x = a.x + size_t(t) * a.dim + g0;
      float* out = a.out + size_t(t) * a.dim + g0;
      __m512d ss = _mm512_setzero_pd();
      for (int i = 0; i < a.groupSize; i += 8) {
        const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(__mmask8(mk(a.groupSize - i) & 0xff), x + i));
        ss = _mm512_fmadd_pd(v, v, ss);
      }
      const __m512d inv = _mm512_set1_pd(1 / std::sqrt(_mm512_reduce_add_pd(ss) / a.groupSize + a.eps));
      for (int i = 0; i < a.groupSize; i += 8) {
        const __mmask8 m = __mmask8(mk(a.groupSize - i) & 0xff);
        const __m512d v = _mm512_mul_pd(_mm512_mul_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)), inv),
                                        _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, a.weight + g0 + i)));
        _mm256_mask_storeu_ps(out + i, m, _mm512_cvtpd_ps(v));
      }
    }
  }
}

void siluGateRows(float* y, const float* z, int dim, int zStride, int t0, int t1) {
  for (int t = t0; t < t1; t++) {
    float* yr = y + size_t(t) * dim;
    const float* zr = z + size_t(t) * zStride;
    for (int i = 0; i < dim; i += 16) {
      const __m512 zv = ld(zr + i, dim - i);
      const __m512 s = _mm512_div_ps(zv, _mm512_add_ps(set(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), zv))));
      st(yr + i, _mm512_mul_ps(ld(yr + i, dim - i), s), dim - i);
    }
  }
}

void relu2Range(float* x, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i += 16) {
    const int n = int(i1 - i < 16 ? i1 - i : 16);
    const __m512 v = _mm512_max_ps(ld(x + i, n), _mm512_setzero_ps());  // NaN → 0, as ref's `x > 0 ? x : 0`
    st(x + i, _mm512_mul_ps(v, v), n);
  }
}

void addScaledRange(float* acc, const float* x, double scale, size_t i0, size_t i1) {
  const __m512d s = _mm512_set1_pd(scale);
  for (size_t i = i0; i < i1; i += 8) {
    const __mmask8 m = __mmask8(mk(int(i1 - i < 8 ? i1 - i : 8)) & 0xff);
    const __m512d v = _mm512_add_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, acc + i)), _mm512_mul_pd(s, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i))));
    _mm256_mask_storeu_ps(acc + i, m, _mm512_cvtpd_ps(v));
  }
}

constexpr OpKernels kOps = {scratchFloats, groupProducts, headChunk, scanHeads, convChannels, rmsNormRows, siluGateRows, relu2Range, addScaledRange};

}  // namespace
}  // namespace tandem

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const tandem::OpKernels* tandem::opsAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") ? &kOps : nullptr;
}
#else
const tandem::OpKernels* tandem::opsAvx512() { return nullptr; }
#endif
