// The portable kernel set: the same kernels over plain 16-float structs, compiled for the baseline target (the
// compiler vectorizes what it can). Used on CPUs without AVX2 + FMA + F16C and on other architectures.
#include "common.h"

namespace tandem {
namespace {
constexpr int kMG = 1, kNR = 4, kDirect = 3, kKC = 256;

struct V { float f[16]; };
inline V vzero() { return V{}; }
inline V vload(const float* p) { V r; for (int i = 0; i < 16; i++) r.f[i] = p[i]; return r; }
inline void vstore(float* p, const V& a) { for (int i = 0; i < 16; i++) p[i] = a.f[i]; }
inline V vloadN(const float* p, int n) { V r{}; for (int i = 0; i < n; i++) r.f[i] = p[i]; return r; }
inline void vstoreN(float* p, const V& a, int n) { for (int i = 0; i < n; i++) p[i] = a.f[i]; }
inline V vset1(float f) { V r; for (int i = 0; i < 16; i++) r.f[i] = f; return r; }
// a·b + c rounded once, as the hardware FMA of the other builds.
inline V vfma(const V& a, const V& b, const V& c) { V r; for (int i = 0; i < 16; i++) r.f[i] = __builtin_fmaf(a.f[i], b.f[i], c.f[i]); return r; }
inline V vadd(const V& a, const V& b) { V r; for (int i = 0; i < 16; i++) r.f[i] = a.f[i] + b.f[i]; return r; }
inline V vmul(const V& a, const V& b) { V r; for (int i = 0; i < 16; i++) r.f[i] = a.f[i] * b.f[i]; return r; }
inline uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline V vhalf(const uint8_t* p) { V r; for (int i = 0; i < 16; i++) r.f[i] = halfToFloat(u16(p + 2 * i)); return r; }
inline V vbf16(const uint8_t* p) {
  V r;
  for (int i = 0; i < 16; i++) {
    const uint32_t b = uint32_t(u16(p + 2 * i)) << 16;
    std::memcpy(&r.f[i], &b, 4);
  }
  return r;
}
struct Q { const uint8_t* p; };
inline Q qload(const uint8_t* p) { return {p}; }
template <int I> inline V qs8(Q q) { V r; for (int i = 0; i < 16; i++) r.f[i] = float(int8_t(q.p[4 * i + I])); return r; }
template <int S> inline V qnib(Q q) {
  V r;
  for (int i = 0; i < 16; i++) r.f[i] = float(int((q.p[4 * i + S / 8] >> (S % 8)) & 15) - 8);
  return r;
}

template <int S> inline V qfp4(Q q) {
  V r;
  for (int i = 0; i < 16; i++) r.f[i] = float(kFp4Values[(q.p[4 * i + S / 8] >> (S % 8)) & 15]);
  return r;
}
inline V vue4m3(const uint8_t* p) { V r; for (int i = 0; i < 16; i++) r.f[i] = ue4m3Half(p[i]); return r; }
#include "kernels.inc"
constexpr KernelSet kSet = {
    "scalar", kMG, kNR, kDirect, size_t(kKC) * 16 * kMG, TANDEM_FMT_TABLE(direct), TANDEM_FMT_TABLE(gemm), {}, 0, nullptr, nullptr,
};
}  // namespace

const KernelSet* kernelsScalar() { return &kSet; }
}  // namespace tandem
