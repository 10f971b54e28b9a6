// The non-matmul ops over the pool: the chunked scan runs each chunk in two parallel phases (C·Bᵀ per group, then the
// heads), the sequential scan splits heads, conv1d channel blocks, the elementwise ops rows or element ranges; all
// claim work dynamically (pool.h).
#include <algorithm>

#include "driver.h"

namespace tandem {
namespace {

struct Items {
  int items, per;  // items of work, `per` to a chunk
  void (*fn)(void* ctx, int i0, int i1, int worker);
  void* arg;
};

void runItems(void* arg, int c, int worker) {
  const Items& it = *static_cast<const Items*>(arg);
  const int i0 = c * it.per, i1 = std::min(it.items, i0 + it.per);
  if (i0 < i1) it.fn(it.arg, i0, i1, worker);
}

// fn over [0, items): on the pool in chunks of `per` when `bytes` of work reach the threshold, else here.
void forItems(Context& ctx, int items, int per, double bytes, void (*fn)(void*, int, int, int), void* arg) {
  Items it{items, std::max(1, per), fn, arg};
  const int chunks = (items + it.per - 1) / it.per;
  if (ctx.pool && chunks > 1 && bytes >= ctx.minParallelBytes) ctx.pool->run(chunks, runItems, &it);
  else for (int c = 0; c < chunks; c++) runItems(&it, c, 0);
}

float* scratchFor(Context& ctx, int worker, size_t floats) {
  auto& s = ctx.opScratch[size_t(worker)];
  if (s.size() < floats + 16) s.resize(floats + 16);
  const uintptr_t p = reinterpret_cast<uintptr_t>(s.data());
  return s.data() + ((64 - p % 64) % 64) / sizeof(float);  // 64-byte aligned
}

struct Chunk {
  Context* ctx;
  const ScanArgs* a;
  int t0, L;
  size_t floats;
};

}  // namespace

bool ssdChunkScan(Context& ctx, const ScanArgs& a) {
  const OpKernels* mk = ctx.ops;
  if (!mk || a.T <= 0) return mk != nullptr;
  const int Q = std::max(1, std::min(a.chunk, a.T));
  ctx.opScratch.resize(size_t(ctx.threads));
  ctx.cb.resize(size_t(a.G) * Q * Q);
  for (int t0 = 0; t0 < a.T; t0 += Q) {
    Chunk ch{&ctx, &a, t0, std::min(Q, a.T - t0), mk->scratchFloats(a, std::min(Q, a.T - t0))};
    const double bytes = double(ch.L) * a.nh * a.P * a.N * 4;
    forItems(ctx, a.G, 1, bytes, [](void* p, int g0, int g1, int w) {
      const Chunk& c = *static_cast<const Chunk*>(p);
      float* s = scratchFor(*c.ctx, w, c.floats);
      for (int g = g0; g < g1; g++) c.ctx->ops->groupProducts(*c.a, c.t0, c.L, g, c.ctx->cb.data() + size_t(g) * c.L * c.L, s);
    }, &ch);
    forItems(ctx, a.nh, 1, bytes, [](void* p, int h0, int h1, int w) {
      const Chunk& c = *static_cast<const Chunk*>(p);
      float* s = scratchFor(*c.ctx, w, c.floats);
      const int hpg = c.a->nh / c.a->G;
      for (int h = h0; h < h1; h++) c.ctx->ops->headChunk(*c.a, c.t0, c.L, h, c.ctx->cb.data() + size_t(h / hpg) * c.L * c.L, s);
    }, &ch);
  }
  return true;
}

bool ssmScan(Context& ctx, const ScanArgs& a) {
  if (!ctx.ops || a.T <= 0) return ctx.ops != nullptr;
  const double bytes = double(a.T) * a.nh * a.P * a.N * 4;
  ctx.scanArgs = &a;
  forItems(ctx, a.nh, std::max(1, a.nh / (ctx.threads * 4)), bytes, [](void* p, int h0, int h1, int) {
    const Context& c = *static_cast<const Context*>(p);
    c.ops->scanHeads(*c.scanArgs, h0, h1);
  }, &ctx);
  return true;
}

bool conv1d(Context& ctx, const ConvArgs& a) {
  if (!ctx.ops || a.T <= 0) return ctx.ops != nullptr;
  ctx.convW.resize(size_t(a.K) * a.Cd);
  for (int c = 0; c < a.Cd; c++) {
    for (int k = 0; k < a.K; k++) ctx.convW[size_t(k) * a.Cd + c] = a.weight[size_t(c) * a.K + k];
  }
  ctx.convArgs = &a;
  const int blocks = (a.Cd + 15) / 16;
  forItems(ctx, blocks, std::max(1, blocks / (ctx.threads * 4)), double(a.T) * a.Cd * a.K * 4, [](void* p, int b0, int b1, int) {
    const Context& c = *static_cast<const Context*>(p);
    c.ops->convChannels(*c.convArgs, c.convW.data(), b0 * 16, std::min(c.convArgs->Cd, b1 * 16));
  }, &ctx);
  return true;
}

bool rmsNorm(Context& ctx, const NormArgs& a) {
  if (!ctx.ops || a.T <= 0) return ctx.ops != nullptr;
  ctx.normArgs = &a;
  forItems(ctx, a.T, std::max(1, a.T / (ctx.threads * 4)), double(a.T) * a.dim * 8, [](void* p, int t0, int t1, int) {
    const Context& c = *static_cast<const Context*>(p);
    c.ops->rmsNormRows(*c.normArgs, t0, t1);
  }, &ctx);
  return true;
}

namespace {
struct Gate {
  const OpKernels* k;
  float* y;
  const float* z;
  int dim, zStride;
};
struct Span {
  const OpKernels* k;
  float* acc;
  const float* x;
  double scale;
  size_t n;
  bool relu;
};
constexpr int kSpan = 4096;  // elements per work item
}  // namespace

bool siluGate(Context& ctx, float* y, const float* z, int T, int dim, int zStride) {
  if (!ctx.ops || T <= 0) return ctx.ops != nullptr;
  Gate g{ctx.ops, y, z, dim, zStride};
  forItems(ctx, T, std::max(1, T / (ctx.threads * 4)), double(T) * dim * 8, [](void* p, int t0, int t1, int) {
    const Gate& a = *static_cast<const Gate*>(p);
    a.k->siluGateRows(a.y, a.z, a.dim, a.zStride, t0, t1);
  }, &g);
  return true;
}

bool elementwise(Context& ctx, float* acc, const float* x, size_t n, double scale, bool relu) {
  if (!ctx.ops || n == 0) return ctx.ops != nullptr;
  Span sp{ctx.ops, acc, x, scale, n, relu};
  const int items = int((n + kSpan - 1) / kSpan);
  forItems(ctx, items, std::max(1, items / (ctx.threads * 4)), double(n) * 8, [](void* p, int i0, int i1, int) {
    const Span& a = *static_cast<const Span*>(p);
    const size_t b = size_t(i0) * kSpan, e = std::min(a.n, size_t(i1) * kSpan);
    if (a.relu) a.k->relu2Range(a.acc, b, e);
    else a.k->addScaledRange(a.acc, a.x, a.scale, b, e);
  }, &sp);
  return true;
}

}  // namespace tandem
