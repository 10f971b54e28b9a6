// The AVX-512 kernel set (AVX-512 F/BW/DQ/VL + FMA + F16C), compiled for that target here only; the runtime
// dispatch in driver.cc picks it when the CPU has those features, so the addon itself runs on any x86-64.
#include "common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl")
#endif

namespace tandem {
namespace {
constexpr int kMG = 2, kNR = 12, kDirect = 3, kKC = 256;
#include "v512.inc"
#include "kernels.inc"
constexpr KernelSet kSet = {
    "avx512", kMG, kNR, kDirect, size_t(kKC) * 16 * kMG, TANDEM_FMT_TABLE(direct), TANDEM_FMT_TABLE(gemm), {}, 0, nullptr, roundActAvx2,
};
}  // namespace
}  // namespace tandem

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const tandem::KernelSet* tandem::kernelsAvx512() { return &kSet; }
#else
const tandem::KernelSet* tandem::kernelsAvx512() { return nullptr; }
#endif
