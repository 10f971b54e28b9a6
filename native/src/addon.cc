// N-API surface of the native backend (plain node_api.h, no node-addon-api). The TypeScript side
// (src/numerics/native/addon.ts) declares these functions; it validates shapes and lengths before calling, and the
// checks here only keep a wrong call from touching memory it does not own.
#include <node_api.h>

#include <string>

#include "driver.h"

namespace tandem {
namespace {

constexpr napi_type_tag kContextTag = {0x7a3c51e2b9d04f18ULL, 0x91c2d6a4e8f03b57ULL};
constexpr napi_type_tag kPackedTag = {0x2f8e64c1a7b35d09ULL, 0xc4b1907e3d5a28f6ULL};

struct ContextBox {
  std::unique_ptr<Context> ctx;
  Isa isa;
};

napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, "TANDEM_NATIVE", msg.c_str());
  return nullptr;
}

#define CHECK(call)                                        \
  do {                                                     \
    if ((call) != napi_ok) return fail(env, "N-API call failed: " #call); \
  } while (0)

template <size_t N>
bool args(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc == N;
}

bool getInt(napi_env env, napi_value v, int* out) { return napi_get_value_int32(env, v, out) == napi_ok; }

// The data of a typed array of the expected type, and its element count.
template <typename T>
bool typed(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* len) {
  bool is = false;
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok || type != want) return false;
  *data = static_cast<T*>(p);
  return true;
}

template <typename T>
T* unwrap(napi_env env, napi_value v, const napi_type_tag& tag) {
  bool ok = false;
  void* p = nullptr;
  if (napi_check_object_type_tag(env, v, &tag, &ok) != napi_ok || !ok) return nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok) return nullptr;
  return static_cast<T*>(p);
}

napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

// features(): { avx2, fma, f16c, avx512f, avx512bw, avx512dq, avx512vl, avx512vnni, best, isas: string[] }
napi_value Features(napi_env env, napi_callback_info) {
  const CpuFeatures f = cpuFeatures();
  napi_value o, isas, s;
  CHECK(napi_create_object(env, &o));
  const std::pair<const char*, bool> flags[] = {
      {"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f.f16c}, {"avx512f", f.avx512f}, {"avx512bw", f.avx512bw},
      {"avx512dq", f.avx512dq}, {"avx512vl", f.avx512vl}, {"avx512vnni", f.avx512vnni},
  };
  for (const auto& [k, b] : flags) CHECK(napi_set_named_property(env, o, k, boolean(env, b)));
  CHECK(napi_create_string_utf8(env, isaName(bestIsa()), NAPI_AUTO_LENGTH, &s));
  CHECK(napi_set_named_property(env, o, "best", s));
  CHECK(napi_create_array(env, &isas));
  uint32_t n = 0;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (!kernelsFor(i)) continue;
    CHECK(napi_create_string_utf8(env, isaName(i), NAPI_AUTO_LENGTH, &s));
    CHECK(napi_set_element(env, isas, n++, s));
  }
  CHECK(napi_set_named_property(env, o, "isas", isas));
  return o;
}

// createContext(isa: string, threads, spinUs, minParallelBytes) → external
napi_value CreateContext(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char name[32] = {0};
  size_t len = 0;
  int threads = 0, spinUs = 0;
  double minPar = 0;
  if (!args(env, info, argv) || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok ||
      !getInt(env, argv[1], &threads) || !getInt(env, argv[2], &spinUs) || napi_get_value_double(env, argv[3], &minPar) != napi_ok) {
    return fail(env, "createContext(isa, threads, spinUs, minParallelBytes): bad arguments");
  }
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (std::string(name) != isaName(i)) continue;
    const KernelSet* ks = kernelsFor(i);
    if (!ks) return fail(env, std::string("this CPU cannot run the ") + name + " kernels");
    auto* box = new ContextBox{makeContext(ks, threads, spinUs, minPar), i};
    napi_value ext;
    CHECK(napi_create_external(env, box, [](napi_env, void* p, void*) { delete static_cast<ContextBox*>(p); }, nullptr, &ext));
    CHECK(napi_type_tag_object(env, ext, &kContextTag));
    return ext;
  }
  return fail(env, std::string("unknown kernel set \"") + name + "\"");
}

// closeContext(ctx): joins the worker threads; the context must not be used afterwards.
napi_value CloseContext(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box) return fail(env, "closeContext(ctx): not a context");
  box->ctx.reset();
  return nullptr;
}

// pack(fmt, rows, cols, data: Uint8Array) → external, or a string saying why the matrix stays on other kernels.
napi_value Pack(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fmt = 0, rows = 0, cols = 0;
  uint8_t* data = nullptr;
  size_t len = 0;
  if (!args(env, info, argv) || !getInt(env, argv[0], &fmt) || !getInt(env, argv[1], &rows) || !getInt(env, argv[2], &cols) ||
      !typed(env, argv[3], napi_uint8_array, &data, &len)) {
    return fail(env, "pack(fmt, rows, cols, data): bad arguments");
  }
  Packed* p = nullptr;
  if (const char* why = pack(fmt, rows, cols, data, len, &p)) {
    napi_value s;
    CHECK(napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &s));
    return s;
  }
  const int64_t bytes = int64_t(packedBytes(*p));
  int64_t total = 0;
  napi_adjust_external_memory(env, bytes, &total);
  napi_value ext;
  auto fin = [](napi_env e, void* q, void*) {
    int64_t t = 0;
    napi_adjust_external_memory(e, -int64_t(packedBytes(*static_cast<Packed*>(q))), &t);
    freePacked(static_cast<Packed*>(q));
  };
  CHECK(napi_create_external(env, p, fin, nullptr, &ext));
  CHECK(napi_type_tag_object(env, ext, &kPackedTag));
  return ext;
}

// packedBytes(packed) → number
napi_value PackedBytes(napi_env env, napi_callback_info info) {
  napi_value argv[1], v;
  Packed* p = args(env, info, argv) ? unwrap<Packed>(env, argv[0], kPackedTag) : nullptr;
  if (!p) return fail(env, "packedBytes(packed): not a packed matrix");
  CHECK(napi_create_double(env, double(packedBytes(*p)), &v));
  return v;
}

// matmul(ctx, packed, x: Float32Array, T, out: Float32Array, act) → false when act = 1 met Inf/NaN input
napi_value Matmul(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int T = 0, act = 0;
  float *x = nullptr, *out = nullptr;
  size_t xl = 0, ol = 0;
  if (!args(env, info, argv)) return fail(env, "matmul: expected 6 arguments");
  ContextBox* box = unwrap<ContextBox>(env, argv[0], kContextTag);
  Packed* p = unwrap<Packed>(env, argv[1], kPackedTag);
  if (!box || !box->ctx || !p || !typed(env, argv[2], napi_float32_array, &x, &xl) || !getInt(env, argv[3], &T) ||
      !typed(env, argv[4], napi_float32_array, &out, &ol) || !getInt(env, argv[5], &act)) {
    return fail(env, "matmul(ctx, packed, x, T, out, act): bad arguments or a closed context");
  }
  if (T < 0 || xl < size_t(T) * p->cols || ol < size_t(T) * p->rows) return fail(env, "matmul: x or out is too short for T");
  if (T == 0) return boolean(env, true);
  return boolean(env, matmul(*box->ctx, *p, x, T, out, act));
}

// embed(packed, row, out: Float32Array, offset): out[offset .. offset + cols) = row `row` decoded
napi_value Embed(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int row = 0, offset = 0;
  float* out = nullptr;
  size_t ol = 0;
  Packed* p = args(env, info, argv) ? unwrap<Packed>(env, argv[0], kPackedTag) : nullptr;
  if (!p || !getInt(env, argv[1], &row) || !typed(env, argv[2], napi_float32_array, &out, &ol) || !getInt(env, argv[3], &offset)) {
    return fail(env, "embed(packed, row, out, offset): bad arguments");
  }
  if (row < 0 || row >= p->rows || offset < 0 || ol < size_t(offset) + p->cols) return fail(env, "embed: row or output out of range");
  decodeRow(*p, row, out + offset);
  return nullptr;
}

// quantizeQ8(isa, x: Float32Array, cols, codes: Int8Array, d: Float32Array) → false on Inf/NaN (a test hook: the
// quantizer of that kernel set, rows in plain order)
napi_value QuantizeQ8(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char name[32] = {0};
  size_t len = 0, xl = 0, cl = 0, dl = 0;
  float *x = nullptr, *d = nullptr;
  int8_t* codes = nullptr;
  int cols = 0;
  if (!args(env, info, argv) || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok ||
      !typed(env, argv[1], napi_float32_array, &x, &xl) || !getInt(env, argv[2], &cols) ||
      !typed(env, argv[3], napi_int8_array, &codes, &cl) || !typed(env, argv[4], napi_float32_array, &d, &dl)) {
    return fail(env, "quantizeQ8(isa, x, cols, codes, d): bad arguments");
  }
  if (cols <= 0 || cols % 32 != 0 || xl % size_t(cols) != 0 || cl < xl || dl < xl / 32) return fail(env, "quantizeQ8: bad sizes");
  const KernelSet* ks = nullptr;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (std::string(name) == isaName(i)) ks = kernelsFor(i);
  }
  if (!ks) return fail(env, std::string("quantizeQ8: no kernel set \"") + name + "\" here");
  const QuantFn fn = ks->quant ? ks->quant : quantizeTokenQ8;
  std::vector<int32_t> corr(size_t(cols) / 32);
  for (size_t t = 0; t < xl / size_t(cols); t++) {
    if (!fn(x + t * cols, cols, 1, 0, codes + t * cols, d + t * (cols / 32), corr.data(), nullptr, 1)) return boolean(env, false);
  }
  return boolean(env, true);
}

// hasOps(ctx) → whether this context has the non-matmul kernels (AVX-512 sets)
napi_value HasOps(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx) return fail(env, "hasOps(ctx): not an open context");
  return boolean(env, box->ctx->ops != nullptr);
}

// scan(ctx, kind (0 sequential, 1 chunked), dims Int32Array [T, nh, P, N, G, chunk], x, B, C, delta: Float64Array,
// A, D, state, y) → false when the context has no Mamba kernels
napi_value Scan(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  int kind = 0;
  int32_t* dims = nullptr;
  double* delta = nullptr;
  float *x = nullptr, *B = nullptr, *C = nullptr, *A = nullptr, *D = nullptr, *state = nullptr, *y = nullptr;
  size_t nd = 0, lx = 0, lb = 0, lc = 0, ldl = 0, la = 0, ldd = 0, ls = 0, ly = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !getInt(env, argv[1], &kind) || !typed(env, argv[2], napi_int32_array, &dims, &nd) || nd < 6 ||
      !typed(env, argv[3], napi_float32_array, &x, &lx) || !typed(env, argv[4], napi_float32_array, &B, &lb) ||
      !typed(env, argv[5], napi_float32_array, &C, &lc) || !typed(env, argv[6], napi_float64_array, &delta, &ldl) ||
      !typed(env, argv[7], napi_float32_array, &A, &la) || !typed(env, argv[8], napi_float32_array, &D, &ldd) ||
      !typed(env, argv[9], napi_float32_array, &state, &ls) || !typed(env, argv[10], napi_float32_array, &y, &ly)) {
    return fail(env, "scan(ctx, kind, dims, x, B, C, delta, A, D, state, y): bad arguments or a closed context");
  }
  const ScanArgs a{dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], x, B, C, A, D, delta, state, y};
  const size_t T = size_t(a.T), xs = size_t(a.nh) * a.P, bs = size_t(a.G) * a.N;
  const bool shape = a.T >= 0 && a.nh > 0 && a.P > 0 && a.N > 0 && a.G > 0 && a.nh % a.G == 0 && a.chunk > 0;
  if (!shape || lx < T * xs || lb < T * bs || lc < T * bs || ldl < T * a.nh || la < size_t(a.nh) || ldd < size_t(a.nh) ||
      ls < xs * a.N || ly < T * xs) {
    return fail(env, "scan: a shape the buffers do not hold, or heads not a multiple of groups");
  }
  return boolean(env, kind == 1 ? ssdChunkScan(*box->ctx, a) : ssmScan(*box->ctx, a));
}

// conv1d(ctx, dims Int32Array [T, Cd, K], x, weight, bias, state, out) → false when the context has no Mamba kernels
napi_value Conv1d(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int32_t* dims = nullptr;
  float *x = nullptr, *w = nullptr, *bias = nullptr, *state = nullptr, *out = nullptr;
  size_t nd = 0, lx = 0, lw = 0, lb = 0, ls = 0, lo = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !typed(env, argv[1], napi_int32_array, &dims, &nd) || nd < 3 || !typed(env, argv[2], napi_float32_array, &x, &lx) ||
      !typed(env, argv[3], napi_float32_array, &w, &lw) || !typed(env, argv[4], napi_float32_array, &bias, &lb) ||
      !typed(env, argv[5], napi_float32_array, &state, &ls) || !typed(env, argv[6], napi_float32_array, &out, &lo)) {
    return fail(env, "conv1d(ctx, dims, x, weight, bias, state, out): bad arguments or a closed context");
  }
  const ConvArgs a{dims[0], dims[1], dims[2], x, w, bias, state, out};
  const size_t T = size_t(a.T), Cd = size_t(a.Cd), K = size_t(a.K);
  if (a.T < 0 || a.Cd <= 0 || a.K <= 0 || lx < T * Cd || lw < Cd * K || lb < Cd || ls < (K - 1) * Cd || lo < T * Cd) {
    return fail(env, "conv1d: a shape the buffers do not hold");
  }
  return boolean(env, conv1d(*box->ctx, a));
}

// rmsNorm(ctx, out, x, T, dim, weight, eps, groupSize) → false when the context has no kernels
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  float *out = nullptr, *x = nullptr, *w = nullptr;
  size_t lo = 0, lx = 0, lw = 0;
  int T = 0, dim = 0, gs = 0;
  double eps = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !typed(env, argv[1], napi_float32_array, &out, &lo) || !typed(env, argv[2], napi_float32_array, &x, &lx) ||
      !getInt(env, argv[3], &T) || !getInt(env, argv[4], &dim) || !typed(env, argv[5], napi_float32_array, &w, &lw) ||
      napi_get_value_double(env, argv[6], &eps) != napi_ok || !getInt(env, argv[7], &gs)) {
    return fail(env, "rmsNorm(ctx, out, x, T, dim, weight, eps, groupSize): bad arguments or a closed context");
  }
  if (T < 0 || dim <= 0 || gs <= 0 || dim % gs != 0 || lo < size_t(T) * dim || lx < size_t(T) * dim || lw < size_t(dim)) {
    return fail(env, "rmsNorm: a shape the buffers do not hold");
  }
  const NormArgs a{out, x, w, T, dim, gs, eps};
  return boolean(env, rmsNorm(*box->ctx, a));
}

// siluGate(ctx, y, z, T, dim, zStride) → false when the context has no kernels
napi_value SiluGate(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  float *y = nullptr, *z = nullptr;
  size_t ly = 0, lz = 0;
  int T = 0, dim = 0, zs = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !typed(env, argv[1], napi_float32_array, &y, &ly) || !typed(env, argv[2], napi_float32_array, &z, &lz) ||
      !getInt(env, argv[3], &T) || !getInt(env, argv[4], &dim) || !getInt(env, argv[5], &zs)) {
    return fail(env, "siluGate(ctx, y, z, T, dim, zStride): bad arguments or a closed context");
  }
  if (T < 0 || dim < 0 || zs < 0 || ly < size_t(T) * dim || (T > 0 && lz < size_t(T - 1) * zs + dim)) return fail(env, "siluGate: a shape the buffers do not hold");
  return boolean(env, siluGate(*box->ctx, y, z, T, dim, zs));
}

// relu2(ctx, x, n) and addScaled(ctx, acc, x, n, scale) → false when the context has no kernels
napi_value Relu2(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  float* x = nullptr;
  size_t lx = 0;
  double n = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !typed(env, argv[1], napi_float32_array, &x, &lx) || napi_get_value_double(env, argv[2], &n) != napi_ok) {
    return fail(env, "relu2(ctx, x, n): bad arguments or a closed context");
  }
  if (!(n >= 0) || size_t(n) > lx) return fail(env, "relu2: n is outside x");
  return boolean(env, elementwise(*box->ctx, x, nullptr, size_t(n), 0, true));
}

napi_value AddScaled(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  float *acc = nullptr, *x = nullptr;
  size_t la = 0, lx = 0;
  double n = 0, scale = 0;
  ContextBox* box = args(env, info, argv) ? unwrap<ContextBox>(env, argv[0], kContextTag) : nullptr;
  if (!box || !box->ctx || !typed(env, argv[1], napi_float32_array, &acc, &la) || !typed(env, argv[2], napi_float32_array, &x, &lx) ||
      napi_get_value_double(env, argv[3], &n) != napi_ok || napi_get_value_double(env, argv[4], &scale) != napi_ok) {
    return fail(env, "addScaled(ctx, acc, x, n, scale): bad arguments or a closed context");
  }
  if (!(n >= 0) || size_t(n) > la || size_t(n) > lx) return fail(env, "addScaled: n is outside acc or x");
  return boolean(env, elementwise(*box->ctx, acc, x, size_t(n), scale, false));
}

// Bumped whenever a function's signature or meaning changes; src/numerics/native/addon.ts refuses other values.
constexpr int32_t kAbi = 4;

napi_value Init(napi_env env, napi_value exports) {
  napi_value abi;
  if (napi_create_int32(env, kAbi, &abi) != napi_ok) return nullptr;
  const napi_property_descriptor props[] = {
      {"abi", nullptr, nullptr, nullptr, nullptr, abi, napi_enumerable, nullptr},
      {"features", nullptr, Features, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"createContext", nullptr, CreateContext, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"closeContext", nullptr, CloseContext, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pack", nullptr, Pack, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packedBytes", nullptr, PackedBytes, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"embed", nullptr, Embed, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"quantizeQ8", nullptr, QuantizeQ8, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"hasOps", nullptr, HasOps, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"siluGate", nullptr, SiluGate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"relu2", nullptr, Relu2, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addScaled", nullptr, AddScaled, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scan", nullptr, Scan, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv1d", nullptr, Conv1d, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace
}  // namespace tandem

NAPI_MODULE_INIT() { return tandem::Init(env, exports); }
