// Repacking stored weights (row-major f32/f16/bf16, ggml Q8_0/Q4_0 blocks) into the G16 layout of common.h, decoding
// one packed row back (embedding lookups), and ggml's Q8_0 activation quantization. Baseline code, no ISA tricks.
#include "driver.h"

#include <cfloat>
#include <cstdlib>

namespace tandem {
namespace {
uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

void packFloat(Packed& p, const uint8_t* src, int elemBytes) {
  const size_t lane = size_t(elemBytes);
  for (int g = 0; g < p.groups; g++) {
    uint8_t* dst = p.data + size_t(g) * p.groupBytes;
    for (int r = 0; r < 16; r++) {
      const int row = g * 16 + r;
      if (row >= p.rows) break;
      const uint8_t* s = src + size_t(row) * p.cols * lane;
      for (int c = 0; c < p.cols; c++) std::memcpy(dst + (size_t(c) * 16 + r) * lane, s + c * lane, lane);
    }
  }
}

void packBlocks(Packed& p, const uint8_t* src) {
  const bool q8 = p.fmt == Q8_0;
  const size_t srcBytes = q8 ? 34 : 18, bb = blockBytes16(p.fmt);
  const int nb = p.cols / 32;
  for (int g = 0; g < p.groups; g++) {
    for (int r = 0; r < 16; r++) {
      const int row = g * 16 + r;
      if (row >= p.rows) break;
      for (int b = 0; b < nb; b++) {
        const uint8_t* s = src + (size_t(row) * nb + b) * srcBytes;
        uint8_t* dst = p.data + size_t(g) * p.groupBytes + size_t(b) * bb;
        std::memcpy(dst + 2 * r, s, 2);
        const int quads = q8 ? 8 : 4;
        for (int k = 0; k < quads; k++) std::memcpy(dst + 32 + k * 64 + r * 4, s + 2 + 4 * k, 4);
      }
    }
  }
}

// ggml NVFP4 (36-byte blocks of 64: 4 UE4M3 scale bytes, 32 code bytes) into the layout of common.h.
void packNvfp4(Packed& p, const uint8_t* src) {
  const int nb = p.cols / 64;
  const size_t bb = blockBytes16(NVFP4);
  for (int g = 0; g < p.groups; g++) {
    for (int r = 0; r < 16; r++) {
      const int row = g * 16 + r;
      if (row >= p.rows) break;
      for (int b = 0; b < nb; b++) {
        const uint8_t* s = src + (size_t(row) * nb + b) * 36;
        uint8_t* dst = p.data + size_t(g) * p.groupBytes + size_t(b) * bb;
        for (int k = 0; k < 4; k++) dst[16 * k + r] = s[k] == 0x7f ? 0 : uint8_t(s[k] & 0x7f);  // ggml: 0x7F is 0, bit 7 ignored
        for (int q = 0; q < 8; q++) std::memcpy(dst + 64 + q * 64 + r * 4, s + 4 + 4 * q, 4);
      }
    }
  }
}

// Whether any ggml block scale is Inf or NaN (the packed kernels scale per block, ref per element: they differ there).
bool badBlockScale(const Packed& p, const uint8_t* src) {
  const size_t srcBytes = p.fmt == Q8_0 ? 34 : 18, n = size_t(p.rows) * (p.cols / 32);
  for (size_t i = 0; i < n; i++) {
    if ((u16(src + i * srcBytes) & 0x7c00) == 0x7c00) return true;
  }
  return false;
}
}  // namespace

const char* pack(int fmt, int rows, int cols, const uint8_t* src, size_t srcLen, Packed** out) {
  *out = nullptr;
  if (fmt < 0 || fmt >= kNumFmts || rows <= 0 || cols <= 0) return "unsupported format or shape";
  const int bc = blockCols(fmt);
  const bool blocks = fmt == Q8_0 || fmt == Q4_0;
  if (cols % bc != 0 && (blocks || fmt == NVFP4)) return "a block format with columns not a multiple of its block";
  const size_t need = fmt == NVFP4 ? size_t(rows) * (cols / 64) * 36
                      : blocks     ? size_t(rows) * (cols / 32) * (fmt == Q8_0 ? 34 : 18)
                                   : size_t(rows) * cols * (fmt == F32 ? 4 : 2);
  if (srcLen < need) return "a buffer shorter than its shape";
  Packed p{};
  p.fmt = fmt, p.rows = rows, p.cols = cols;
  p.colsP = (cols + bc - 1) / bc * bc;
  p.groups = (rows + 15) / 16;
  p.groupBytes = size_t(p.colsP / bc) * blockBytes16(fmt);
  if (blocks && badBlockScale(p, src)) return "an Inf/NaN block scale";
  const size_t bytes = (size_t(p.groups) * p.groupBytes + 63) / 64 * 64;
  p.data = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
  if (!p.data) return "out of memory";
  std::memset(p.data, 0, bytes);
  if (fmt == NVFP4) packNvfp4(p, src);
  else if (blocks) packBlocks(p, src);
  else packFloat(p, src, fmt == F32 ? 4 : 2);
  *out = new Packed(p);
  return nullptr;
}

void freePacked(Packed* p) {
  std::free(p->data);
  delete p;
}

size_t packedBytes(const Packed& p) { return size_t(p.groups) * p.groupBytes; }

void decodeRow(const Packed& p, int row, float* out) {
  const uint8_t* g = p.data + size_t(row / 16) * p.groupBytes;
  const int r = row % 16;
  for (int c = 0; c < p.cols; c++) {
    switch (p.fmt) {
      case F32: std::memcpy(&out[c], g + (size_t(c) * 16 + r) * 4, 4); break;
      case F16: out[c] = halfToFloat(u16(g + (size_t(c) * 16 + r) * 2)); break;
      case BF16: {
        const uint32_t b = uint32_t(u16(g + (size_t(c) * 16 + r) * 2)) << 16;
        std::memcpy(&out[c], &b, 4);
        break;
      }
      case Q8_0: {
        const uint8_t* base = g + size_t(c / 32) * blockBytes16(Q8_0);
        const int j = c % 32;
        out[c] = float(int8_t(base[32 + (j / 4) * 64 + r * 4 + j % 4])) * halfToFloat(u16(base + 2 * r));
        break;
      }
      case NVFP4: {
        const uint8_t* base = g + size_t(c / 64) * blockBytes16(NVFP4);
        const int j = c % 64, s = j / 16, k = j % 16;  // sub-block s, element k: byte 8s + k % 8, high nibble from 8
        const int byte = base[64 + (2 * s + (k % 8) / 4) * 64 + r * 4 + k % 4];
        out[c] = float(kFp4Values[k < 8 ? byte & 15 : byte >> 4]) * ue4m3Half(base[16 * s + r]);
        break;
      }
      default: {  // Q4_0
        const uint8_t* base = g + size_t(c / 32) * blockBytes16(Q4_0);
        const int j = c % 32, k = j % 16;
        const int byte = base[32 + (k / 4) * 64 + r * 4 + k % 4];
        out[c] = float((j < 16 ? byte & 15 : byte >> 4) - 8) * halfToFloat(u16(base + 2 * r));
      }
    }
  }
}

bool quantizeBlockQ8(const float* x, int8_t* codes, float* d, int32_t* sum) {
  const float magic = 12582912.0f;  // 1.5 · 2^23: (v + magic) − magic rounds |v| < 2^22 half to even
  float amax = 0;
  bool bad = false;
  for (int j = 0; j < 32; j++) {
    const float a = x[j] < 0 ? -x[j] : x[j];
    bad |= !(a <= FLT_MAX);
    amax = a > amax ? a : amax;
  }
  if (bad) return false;
  *d = halfToFloat(floatToHalf(amax / 127.0f));
  const float id = amax != 0 ? 127.0f / amax : 0.0f;
  int32_t s = 0;
  for (int j = 0; j < 32; j++) {
    const int q = int((x[j] * id + magic) - magic);  // two roundings: built with -ffp-contract=off
    codes[j] = int8_t(q);
    s += q;
  }
  *sum = s;
  return true;
}

bool quantizeRowQ8(const float* x, int cols, int8_t* codes, float* d, int32_t* sums) {
  for (int b = 0; b < cols / 32; b++) {
    if (!quantizeBlockQ8(x + b * 32, codes + b * 32, d + b, sums + b)) return false;
  }
  return true;
}

bool quantizeTokenQ8(const float* x, int cols, int n, int t, int8_t* codes, float* d, int32_t* corr, int32_t* corr16, int32_t offset) {
  int8_t q[32];
  for (int b = 0; b < cols / 32; b++) {
    int32_t sum = 0;
    if (!quantizeBlockQ8(x + b * 32, q, &d[b * n + t], &sum)) return false;
    corr[b * n + t] = offset * sum;
    if (corr16) {
      int32_t lo = 0;
      for (int j = 0; j < 16; j++) lo += q[j];
      corr16[(2 * b) * n + t] = offset * lo, corr16[(2 * b + 1) * n + t] = offset * (sum - lo);
    }
    for (int k = 0; k < 8; k++) std::memcpy(codes + (size_t(b) * 8 + k) * n * 4 + size_t(t) * 4, q + 4 * k, 4);
  }
  return true;
}

void roundActBaseline(float* x, size_t n, int act) {
  for (size_t i = 0; i < n; i++) {
    if (act == ACT_F16) {
      x[i] = halfToFloat(floatToHalf(x[i]));
      continue;
    }
    uint32_t u;
    std::memcpy(&u, &x[i], 4);
    u = (u & 0x7fffffffu) > 0x7f800000u ? (u | 0x400000u) & 0xffff0000u : (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    std::memcpy(&x[i], &u, 4);
  }
}

}  // namespace tandem
