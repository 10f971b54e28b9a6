// Runtime dispatch (which kernel set this CPU runs), contexts, and the matmul driver: stage the activations (pad,
// pack for the GEMM, or quantize to Q8_0), split the row groups over the pool, run the kernels.
#include "driver.h"

#include <algorithm>

namespace tandem {

CpuFeatures cpuFeatures() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return {
      __builtin_cpu_supports("avx2") != 0,     __builtin_cpu_supports("fma") != 0,      __builtin_cpu_supports("f16c") != 0,
      __builtin_cpu_supports("avx512f") != 0,  __builtin_cpu_supports("avx512bw") != 0,  __builtin_cpu_supports("avx512dq") != 0,
      __builtin_cpu_supports("avx512vl") != 0, __builtin_cpu_supports("avx512vnni") != 0,
  };
#else
  return {false, false, false, false, false, false, false, false};
#endif
}

const KernelSet* kernelsFor(Isa isa) {
  const CpuFeatures f = cpuFeatures();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
  switch (isa) {
    case Isa::Scalar: return kernelsScalar();
    case Isa::Avx2: return avx2 ? kernelsAvx2() : nullptr;
    case Isa::Avx512: return avx512 ? kernelsAvx512() : nullptr;
    case Isa::Avx512Vnni: return avx512 && f.avx512vnni ? kernelsAvx512Vnni() : nullptr;
  }
  return nullptr;
}

Isa bestIsa() {
  for (Isa i : {Isa::Avx512Vnni, Isa::Avx512, Isa::Avx2}) {
    if (kernelsFor(i)) return i;
  }
  return Isa::Scalar;
}

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512-vnni";
  }
  return "?";
}

std::unique_ptr<Context> makeContext(const KernelSet* ks, int threads, int spinUs, double minParallelBytes) {
  auto ctx = std::make_unique<Context>();
  ctx->ks = ks;
  ctx->threads = threads < 1 ? 1 : threads;
  ctx->minParallelBytes = minParallelBytes;
  if (ctx->threads > 1) ctx->pool = std::make_unique<Pool>(ctx->threads - 1, spinUs);
  ctx->scratch.resize(size_t(ctx->threads));
  for (auto& s : ctx->scratch) s.resize(ks->scratchFloats + 16);
  const bool avx512 = ks == kernelsAvx512() || ks == kernelsAvx512Vnni();
  ctx->ops = avx512 ? opsAvx512() : nullptr;
  return ctx;
}

namespace {

constexpr int kChunksPerThread = 4;

struct Job {
  const MatArgs* a;
  RangeFn fn;
  Context* ctx;
  int chunks, units, unit, groups;
};

void runChunk(void* arg, int c, int worker) {
  const Job& j = *static_cast<const Job*>(arg);
  const int u0 = int(int64_t(j.units) * c / j.chunks), u1 = int(int64_t(j.units) * (c + 1) / j.chunks);
  const int g0 = u0 * j.unit, g1 = std::min(j.groups, u1 * j.unit);
  if (g0 < g1) j.fn(*j.a, g0, g1, j.ctx->scratch[size_t(worker)].data());
}

// Rows t0.. of x packed per token block of `nr`: xp[t0·cp + c·n + t], zero for c ≥ cols.
void packX(const float* x, int T, int cols, int cp, int nr, float* xp) {
  for (int t0 = 0; t0 < T; t0 += nr) {
    const int n = std::min(nr, T - t0);
    float* dst = xp + size_t(t0) * cp;
    for (int t = 0; t < n; t++) {
      const float* src = x + size_t(t0 + t) * cols;
      for (int c = 0; c < cols; c++) dst[size_t(c) * n + t] = src[c];
      for (int c = cols; c < cp; c++) dst[size_t(c) * n + t] = 0;
    }
  }
}

struct QuantJob {
  Context* ctx;
  QuantFn fn;
  const float* x;
  int T, cols, nr;
  int32_t offset;
  bool corr16;
  std::atomic<bool> bad{false};
};

void runQuant(void* arg, int c, int) {
  QuantJob& j = *static_cast<QuantJob*>(arg);
  const int t0 = c * j.nr, n = std::min(j.nr, j.T - t0), nb = j.cols / 32;
  Context& ctx = *j.ctx;
  for (int t = 0; t < n; t++) {
    int32_t* c16 = j.corr16 ? ctx.qcorr16.data() + size_t(t0) * nb * 2 : nullptr;
    const bool ok = j.fn(j.x + size_t(t0 + t) * j.cols, j.cols, n, t, ctx.codes.data() + size_t(t0) * j.cols, ctx.qd.data() + size_t(t0) * nb,
                         ctx.qcorr.data() + size_t(t0) * nb, c16, j.offset);
    if (!ok) j.bad.store(true, std::memory_order_relaxed);
  }
}

// ggml Q8_0 quantization of every row, packed per token block of `nr` for the int8 kernels (QuantX in common.h); the
// token blocks are chunks for the pool when there is enough of them. corr16: also the per-16-column corrections.
bool quantizePacked(Context& ctx, const float* x, int T, int cols, int nr, int32_t offset, bool corr16) {
  const int nb = cols / 32, blocks = (T + nr - 1) / nr;
  ctx.codes.resize(size_t(T) * cols), ctx.qd.resize(size_t(T) * nb), ctx.qcorr.resize(size_t(T) * nb);
  if (corr16) ctx.qcorr16.resize(size_t(T) * nb * 2);
  QuantJob job;
  job.ctx = &ctx, job.fn = ctx.ks->quant ? ctx.ks->quant : quantizeTokenQ8, job.x = x;
  job.T = T, job.cols = cols, job.nr = nr, job.offset = offset, job.corr16 = corr16;
  if (ctx.pool && blocks > 1 && double(T) * cols * 4 >= ctx.minParallelBytes) ctx.pool->run(blocks, runQuant, &job);
  else for (int c = 0; c < blocks; c++) runQuant(&job, c, 0);
  return !job.bad.load(std::memory_order_relaxed);
}

// x with every row quantized to Q8_0 and decoded again (what the int8 kernels compute with), into `dst`.
bool fakeQuantize(Context& ctx, const float* x, int T, int cols, float* dst) {
  const int nb = cols / 32;
  ctx.rowCodes.resize(size_t(cols)), ctx.rowD.resize(size_t(nb)), ctx.rowSums.resize(size_t(nb));
  for (int t = 0; t < T; t++) {
    if (!quantizeRowQ8(x + size_t(t) * cols, cols, ctx.rowCodes.data(), ctx.rowD.data(), ctx.rowSums.data())) return false;
    for (int c = 0; c < cols; c++) dst[size_t(t) * cols + c] = float(ctx.rowCodes[size_t(c)]) * ctx.rowD[size_t(c / 32)];
  }
  return true;
}

// Row groups in `unit`s, cut into chunks the pool's threads claim as they come (several per thread, so one that the
// OS runs late does not hold the others up).
void runSplit(Context& ctx, const MatArgs& a, RangeFn fn, int unit) {
  const Packed& w = *a.w;
  const int units = (w.groups + unit - 1) / unit;
  const double work = double(packedBytes(w)) * a.T;
  const int chunks = ctx.pool && work >= ctx.minParallelBytes ? std::min(units, ctx.threads * kChunksPerThread) : 1;
  Job job{&a, fn, &ctx, chunks, units, unit, w.groups};
  if (chunks == 1) runChunk(&job, 0, 0);
  else ctx.pool->run(chunks, runChunk, &job);
}

}  // namespace

bool matmul(Context& ctx, const Packed& w, const float* x, int T, float* out, int act) {
  const KernelSet& ks = *ctx.ks;
  MatArgs a{&w, T, out, nullptr, {}};
  if (act == ACT_Q8_0 && ks.q8Fn[w.fmt]) {
    // the offset the kernels' unsigned weights carry: Q8_0 codes + 128, Q4_0 nibbles as stored, NVFP4 values + 12
    const int32_t offset = w.fmt == Q8_0 ? 128 : w.fmt == NVFP4 ? 12 : 8;
    if (!quantizePacked(ctx, x, T, w.cols, ks.q8nr, offset, w.fmt == NVFP4)) return false;
    a.qx = {ctx.codes.data(), ctx.qd.data(), ctx.qcorr.data(), ctx.qcorr16.data(), ks.q8nr};
    runSplit(ctx, a, ks.q8Fn[w.fmt], 1);
    return true;
  }
  const float* src = x;
  std::vector<float> fq;
  if (act == ACT_Q8_0) {
    fq.resize(size_t(T) * w.cols);
    if (!fakeQuantize(ctx, x, T, w.cols, fq.data())) return false;
    src = fq.data();
  } else if (act == ACT_F16 || act == ACT_BF16) {
    fq.assign(x, x + size_t(T) * w.cols);
    (ks.roundAct ? ks.roundAct : roundActBaseline)(fq.data(), fq.size(), act);
    src = fq.data();
  }
  ctx.xbuf.resize(size_t(T) * w.colsP + 16);
  if (T <= ks.direct) {
    for (int t = 0; t < T; t++) {
      std::memcpy(ctx.xbuf.data() + size_t(t) * w.colsP, src + size_t(t) * w.cols, size_t(w.cols) * 4);
      std::fill(ctx.xbuf.data() + size_t(t) * w.colsP + w.cols, ctx.xbuf.data() + size_t(t + 1) * w.colsP, 0.0f);
    }
    a.x = ctx.xbuf.data();
    runSplit(ctx, a, ks.directFn[w.fmt], 1);
  } else {
    packX(src, T, w.cols, w.colsP, ks.nr, ctx.xbuf.data());
    a.x = ctx.xbuf.data();
    runSplit(ctx, a, ks.gemmFn[w.fmt], ks.mg);
  }
  return true;
}

}  // namespace tandem
