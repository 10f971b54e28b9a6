// The non-matmul ops on AVX-512, the prefill work that is not a weight matmul: the Mamba-2 recurrent ops (chunked SSD
// scan, sequential scan, causal conv1d + SiLU) and the elementwise ones (grouped RMSNorm, SiLU gate, ReLU², scaled
// add). Semantics: src/numerics/ref/{ssd-chunk-scan,ssm-scan,conv1d,norm}.ts; the time steps Δ arrive computed (f64,
// by ref's deltaOf); RMSNorm and addScaled compute in f64 like ref, the rest in f32.
#pragma once
#include <cstddef>

namespace tandem {

struct ScanArgs {
  int T, nh, P, N, G, chunk;
  const float *x, *B, *C, *A, *D;  // x [T, nh·P], B/C [T, G·N], A/D [nh]
  const double* delta;             // [T, nh]
  float *state, *y;                // [nh, P, N] in/out, [T, nh·P]
};

struct ConvArgs {
  int T, Cd, K;
  const float *x, *weight, *bias;  // [T, Cd], [Cd, K], [Cd]
  float *state, *out;              // [K−1, Cd] in/out, [T, Cd]
};

struct NormArgs {
  float* out;
  const float *x, *weight;  // [T, dim], [dim]
  int T, dim, groupSize;
  double eps;
};

struct OpKernels {
  // Per-thread scratch floats a chunk of L tokens needs.
  size_t (*scratchFloats)(const ScanArgs&, int L);
  // Phase 1 of a chunk: CB[i][j] = C_i · B_j of group g into cb ([L, L]).
  void (*groupProducts)(const ScanArgs&, int t0, int L, int g, float* cb, float* scratch);
  // Phase 2: y rows t0.. of head h and its state, given its group's CB.
  void (*headChunk)(const ScanArgs&, int t0, int L, int h, const float* cb, float* scratch);
  // The sequential recurrence for heads [h0, h1) over all T tokens.
  void (*scanHeads)(const ScanArgs&, int h0, int h1);
  // conv1d + SiLU for channels [c0, c1) (multiples of 16 except at Cd); wT is the weight transposed to [K, Cd].
  void (*convChannels)(const ConvArgs&, const float* wT, int c0, int c1);
  // Elementwise, over rows [t0, t1) or elements [i0, i1).
  void (*rmsNormRows)(const NormArgs&, int t0, int t1);
  void (*siluGateRows)(float* y, const float* z, int dim, int zStride, int t0, int t1);
  void (*relu2Range)(float* x, size_t i0, size_t i1);
  void (*addScaledRange)(float* acc, const float* x, double scale, size_t i0, size_t i1);
};

// Null when this build or CPU has no AVX-512 F/DQ/VL.
const OpKernels* opsAvx512();

}  // namespace tandem
