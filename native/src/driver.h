// The native backend's engine room: a Context (kernel set + thread pool + scratch) and the operations the N-API layer
// exposes. No N-API here, so it reads as plain C++.
#pragma once
#include <memory>
#include <vector>

#include "common.h"
#include "ops.h"
#include "pool.h"

namespace tandem {

enum class Isa { Scalar, Avx2, Avx512, Avx512Vnni };

struct CpuFeatures {
  bool avx2, fma, f16c, avx512f, avx512bw, avx512dq, avx512vl, avx512vnni;
};
CpuFeatures cpuFeatures();
// The best kernel set this CPU runs.
Isa bestIsa();
const char* isaName(Isa isa);
// The kernel set for `isa`, or null when this CPU (or this build) cannot run it.
const KernelSet* kernelsFor(Isa isa);

struct Context {
  const KernelSet* ks;
  int threads;
  double minParallelBytes;
  std::unique_ptr<Pool> pool;             // null with one thread
  std::vector<std::vector<float>> scratch;  // per thread
  std::vector<float> xbuf;                // padded / packed / fake-quantized activations
  std::vector<int8_t> codes;              // int8 path: packed codes, scales, corrections
  std::vector<float> qd;
  std::vector<int32_t> qcorr, qcorr16;
  std::vector<int8_t> rowCodes;
  std::vector<int32_t> rowSums;
  std::vector<float> rowD;
  // non-matmul ops (null where the CPU has no AVX-512): scratch per thread, C·Bᵀ per group, the conv weight transposed
  const OpKernels* ops = nullptr;
  std::vector<std::vector<float>> opScratch;
  std::vector<float> cb, convW;
  const ScanArgs* scanArgs = nullptr;
  const ConvArgs* convArgs = nullptr;
  const NormArgs* normArgs = nullptr;
};

std::unique_ptr<Context> makeContext(const KernelSet* ks, int threads, int spinUs, double minParallelBytes);

// out[T, rows] = x[T, cols] · Wᵀ. act (Act in common.h): ACT_Q8_0 quantizes x to Q8_0 as ggml does (int8 kernels
// where the set has them, else the f32 kernels on the dequantized codes; cols a multiple of 32); ACT_F16 / ACT_BF16
// round x to that type first. Returns false only when ACT_Q8_0 meets Inf/NaN in x (the caller then runs the
// reference path, which defines what those produce).
bool matmul(Context& ctx, const Packed& w, const float* x, int T, float* out, int act);

// Repacks stored bytes; returns null on success (*out set) or why the matrix cannot be packed.
const char* pack(int fmt, int rows, int cols, const uint8_t* src, size_t srcLen, Packed** out);
void freePacked(Packed* p);
size_t packedBytes(const Packed& p);
void decodeRow(const Packed& p, int row, float* out);

// The non-matmul ops (ops.h); false when this context has no kernels for them (the caller delegates).
bool ssdChunkScan(Context& ctx, const ScanArgs& a);
bool ssmScan(Context& ctx, const ScanArgs& a);
bool conv1d(Context& ctx, const ConvArgs& a);
bool rmsNorm(Context& ctx, const NormArgs& a);
bool siluGate(Context& ctx, float* y, const float* z, int T, int dim, int zStride);
// relu: x ← max(x, 0)² over acc[0, n); else acc ← acc + scale · x
bool elementwise(Context& ctx, float* acc, const float* x, size_t n, double scale, bool relu);

}  // namespace tandem
