// N-API entry points. Every function is synchronous, takes its inputs and a
// preallocated output as typed arrays owned by JavaScript (no external
// buffers, so the addon also loads under Electron's V8 sandbox), validates
// sizes, and throws a TypeError/RangeError naming the argument otherwise.
#include <napi.h>

#include <array>
#include <string>
#include <vector>

#include "elementwise.h"
#include "files.h"
#include "fused.h"
#include "gemm.h"
#include "merge.h"
#include "pool.h"
#include "reduce.h"

namespace {

using lora::GemmArgs;

template <typename T>
struct ArrayView {
  T* data;
  int64_t length;
};

template <typename T>
napi_typedarray_type typed_array_kind();
template <>
napi_typedarray_type typed_array_kind<float>() { return napi_float32_array; }
template <>
napi_typedarray_type typed_array_kind<int32_t>() { return napi_int32_array; }
template <>
napi_typedarray_type typed_array_kind<uint8_t>() { return napi_uint8_array; }
template <>
napi_typedarray_type typed_array_kind<double>() { return napi_float64_array; }

template <typename T>
ArrayView<T> array_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != typed_array_kind<T>())
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' has the wrong array type");
  auto ta = v.As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return {reinterpret_cast<T*>(base + ta.ByteOffset()), static_cast<int64_t>(ta.ElementLength())};
}

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)) || d < 0)
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' must be a non-negative integer");
  return static_cast<int64_t>(d);
}

double num_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// Float32Array arguments first, first + 1, …, named for the errors:
//   auto [dy, x, w] = float_args(info, 0, {"dy", "x", "w"});
template <size_t N>
std::array<ArrayView<float>, N> float_args(const Napi::CallbackInfo& info, size_t first, const char* const (&names)[N]) {
  std::array<ArrayView<float>, N> out;
  for (size_t k = 0; k < N; ++k) out[k] = array_arg<float>(info, first + k, names[k]);
  return out;
}

// Non-negative integer arguments likewise.
template <size_t N>
std::array<int64_t, N> int_args(const Napi::CallbackInfo& info, size_t first, const char* const (&names)[N]) {
  std::array<int64_t, N> out;
  for (size_t k = 0; k < N; ++k) out[k] = int_arg(info, first + k, names[k]);
  return out;
}

void need(const Napi::CallbackInfo& info, bool ok, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(info.Env(), what);
}

std::vector<int64_t> shape_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be an array");
  auto arr = info[i].As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    Napi::Value v = arr.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d)))
      throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' must hold non-negative integers");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

int64_t size_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A float32, int32 or uint8 (tfjs bool) array: data, length, element bytes.
struct AnyArray {
  void* data;
  int64_t length;
  int bytes;
};

AnyArray any_array_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  int bytes;
  switch (ta.TypedArrayType()) {
    case napi_float32_array:
    case napi_int32_array: bytes = 4; break;
    case napi_uint8_array: bytes = 1; break;
    default: throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' has an unsupported array type");
  }
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return {base + ta.ByteOffset(), static_cast<int64_t>(ta.ElementLength()), bytes};
}

// gemm(a, b, c, batch, m, n, k, transA, transB, aOffsets, bOffsets, alpha, beta)
// aOffsets/bOffsets: Float64Array of element offsets, one per batch item.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  auto [a, b, c] = float_args(info, 0, {"a", "b", "c"});
  GemmArgs g;
  g.a = a.data;
  g.b = b.data;
  g.c = c.data;
  g.batch = int_arg(info, 3, "batch");
  g.m = int_arg(info, 4, "m");
  g.n = int_arg(info, 5, "n");
  g.k = int_arg(info, 6, "k");
  g.transA = info[7].ToBoolean();
  g.transB = info[8].ToBoolean();
  auto ao = array_arg<double>(info, 9, "aOffsets");
  auto bo = array_arg<double>(info, 10, "bOffsets");
  g.alpha = static_cast<float>(num_arg(info, 11, "alpha"));
  g.beta = static_cast<float>(num_arg(info, 12, "beta"));
  need(info, ao.length == g.batch && bo.length == g.batch, "gemm: one offset per batch item is needed");
  need(info, c.length >= g.batch * g.m * g.n, "gemm: output too small");
  std::vector<int64_t> aoff(g.batch), boff(g.batch);
  for (int64_t i = 0; i < g.batch; ++i) {
    aoff[i] = static_cast<int64_t>(ao.data[i]);
    boff[i] = static_cast<int64_t>(bo.data[i]);
    need(info, aoff[i] >= 0 && aoff[i] + g.m * g.k <= a.length, "gemm: 'a' too small for its offsets");
    need(info, boff[i] >= 0 && boff[i] + g.k * g.n <= b.length, "gemm: 'b' too small for its offsets");
  }
  g.aOffsets = aoff.data();
  g.bOffsets = boff.data();
  lora::gemm(g);
  return info.Env().Undefined();
}

// unary(op, x, out)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0, "op");
  auto [x, out] = float_args(info, 1, {"x", "out"});
  need(info, op < lora::kUnaryCount, "unary: unknown op");
  need(info, out.length == x.length, "unary: 'out' must match 'x' in length");
  lora::unary(static_cast<int>(op), x.data, out.data, x.length);
  return info.Env().Undefined();
}

// The arguments binary() and compare() share, (op, a, aShape, b, bShape, out), checked: the op
// below `count`, each shape matching its array, the shapes broadcasting to out's length.
template <typename Out>
struct BroadcastArgs {
  int op;
  ArrayView<float> a;
  std::vector<int64_t> as;
  ArrayView<float> b;
  std::vector<int64_t> bs;
  ArrayView<Out> out;
};

template <typename Out>
BroadcastArgs<Out> broadcast_args(const Napi::CallbackInfo& info, const std::string& name, int64_t count) {
  int64_t op = int_arg(info, 0, "op");
  BroadcastArgs<Out> r{static_cast<int>(op), array_arg<float>(info, 1, "a"), shape_arg(info, 2, "aShape"),
                       array_arg<float>(info, 3, "b"), shape_arg(info, 4, "bShape"), array_arg<Out>(info, 5, "out")};
  need(info, op < count, name + ": unknown op");
  need(info, size_of(r.as) == r.a.length && size_of(r.bs) == r.b.length, name + ": shape does not match array length");
  std::vector<int64_t> os;
  need(info, lora::broadcast_shape(r.as, r.bs, &os), name + ": shapes do not broadcast");
  need(info, size_of(os) == r.out.length, name + ": 'out' has the wrong length");
  return r;
}

// binary(op, a, aShape, b, bShape, out)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  auto c = broadcast_args<float>(info, "binary", lora::kBinaryCount);
  lora::binary(c.op, c.a.data, c.as, c.b.data, c.bs, c.out.data);
  return info.Env().Undefined();
}

// compare(op, a, aShape, b, bShape, out: Uint8Array)
Napi::Value Compare(const Napi::CallbackInfo& info) {
  auto c = broadcast_args<uint8_t>(info, "compare", lora::kCompareCount);
  lora::compare(c.op, c.a.data, c.as, c.b.data, c.bs, c.out.data);
  return info.Env().Undefined();
}

// reduce(op, x, shape, axes, out)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  int64_t op = int_arg(info, 0, "op");
  auto x = array_arg<float>(info, 1, "x");
  auto shape = shape_arg(info, 2, "shape");
  auto axes = shape_arg(info, 3, "axes");
  auto out = array_arg<float>(info, 4, "out");
  need(info, op <= lora::kReduceMin, "reduce: unknown op");
  need(info, size_of(shape) == x.length, "reduce: shape does not match array length");
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t a : axes) {
    need(info, a < static_cast<int64_t>(shape.size()), "reduce: axis out of range");
    reduced[a] = true;
  }
  int64_t kept = 1;
  for (size_t i = 0; i < shape.size(); ++i) if (!reduced[i]) kept *= shape[i];
  need(info, out.length == kept, "reduce: 'out' has the wrong length");
  lora::reduce(static_cast<int>(op), x.data, shape, reduced, out.data);
  return info.Env().Undefined();
}

// softmax(x, rows, cols, out, log)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  auto x = array_arg<float>(info, 0, "x");
  auto [rows, cols] = int_args(info, 1, {"rows", "cols"});
  auto out = array_arg<float>(info, 3, "out");
  need(info, x.length == rows * cols && out.length == x.length, "softmax: arrays must hold rows * cols values");
  if (info[4].ToBoolean()) lora::log_softmax_rows(x.data, rows, cols, out.data);
  else lora::softmax_rows(x.data, rows, cols, out.data);
  return info.Env().Undefined();
}

// transpose(x, shape, perm, out)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  auto x = any_array_arg(info, 0, "x");
  auto shape = shape_arg(info, 1, "shape");
  auto perm = shape_arg(info, 2, "perm");
  auto out = any_array_arg(info, 3, "out");
  need(info, perm.size() == shape.size(), "transpose: perm must have one entry per axis");
  std::vector<bool> seen(shape.size(), false);
  for (int64_t p : perm) {
    need(info, p < static_cast<int64_t>(shape.size()) && !seen[p], "transpose: perm is not a permutation");
    seen[p] = true;
  }
  need(info, x.bytes == out.bytes && size_of(shape) == x.length && out.length == x.length,
       "transpose: arrays do not match the shape");
  lora::transpose(x.data, shape, perm, out.data, x.bytes);
  return info.Env().Undefined();
}

// copyRegion(src, srcShape, srcStart, dst, dstShape, dstStart, size)
Napi::Value CopyRegion(const Napi::CallbackInfo& info) {
  auto src = any_array_arg(info, 0, "src");
  auto ss = shape_arg(info, 1, "srcShape");
  auto s0 = shape_arg(info, 2, "srcStart");
  auto dst = any_array_arg(info, 3, "dst");
  auto ds = shape_arg(info, 4, "dstShape");
  auto d0 = shape_arg(info, 5, "dstStart");
  auto size = shape_arg(info, 6, "size");
  size_t r = size.size();
  need(info, ss.size() == r && s0.size() == r && ds.size() == r && d0.size() == r, "copyRegion: ranks differ");
  need(info, src.bytes == dst.bytes && size_of(ss) == src.length && size_of(ds) == dst.length,
       "copyRegion: arrays do not match their shapes");
  for (size_t i = 0; i < r; ++i)
    need(info, s0[i] + size[i] <= ss[i] && d0[i] + size[i] <= ds[i], "copyRegion: region out of bounds");
  lora::copy_region(src.data, ss, s0, dst.data, ds, d0, size, src.bytes);
  return info.Env().Undefined();
}

// ------------------------------------------------------------ fused ops

// rmsNorm(x, w, n, d, eps, y, rstd)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  auto [x, w] = float_args(info, 0, {"x", "w"});
  auto [n, d] = int_args(info, 2, {"n", "d"});
  float eps = static_cast<float>(num_arg(info, 4, "eps"));
  auto [y, rstd] = float_args(info, 5, {"y", "rstd"});
  need(info, x.length == n * d && y.length == n * d && w.length == d && rstd.length == n, "rmsNorm: sizes do not match [n, d]");
  lora::rmsnorm_fwd(x.data, w.data, n, d, eps, y.data, rstd.data);
  return info.Env().Undefined();
}

// rmsNormGrad(dy, x, w, rstd, n, d, dx, dw)
Napi::Value RmsNormGrad(const Napi::CallbackInfo& info) {
  auto [dy, x, w, rstd] = float_args(info, 0, {"dy", "x", "w", "rstd"});
  auto [n, d] = int_args(info, 4, {"n", "d"});
  auto [dx, dw] = float_args(info, 6, {"dx", "dw"});
  need(info, dy.length == n * d && x.length == n * d && dx.length == n * d && w.length == d && dw.length == d &&
                 rstd.length == n, "rmsNormGrad: sizes do not match [n, d]");
  lora::rmsnorm_bwd(dy.data, x.data, w.data, rstd.data, n, d, dx.data, dw.data);
  return info.Env().Undefined();
}

// layerNorm(x, w, b, n, d, eps, y, mean, rstd)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  auto [x, w, b] = float_args(info, 0, {"x", "w", "b"});
  auto [n, d] = int_args(info, 3, {"n", "d"});
  float eps = static_cast<float>(num_arg(info, 5, "eps"));
  auto [y, mean, rstd] = float_args(info, 6, {"y", "mean", "rstd"});
  need(info, x.length == n * d && y.length == n * d && w.length == d && b.length == d && mean.length == n &&
                 rstd.length == n, "layerNorm: sizes do not match [n, d]");
  lora::layernorm_fwd(x.data, w.data, b.data, n, d, eps, y.data, mean.data, rstd.data);
  return info.Env().Undefined();
}

// layerNormGrad(dy, x, w, mean, rstd, n, d, dx, dw, db)
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  auto [dy, x, w, mean, rstd] = float_args(info, 0, {"dy", "x", "w", "mean", "rstd"});
  auto [n, d] = int_args(info, 5, {"n", "d"});
  auto [dx, dw, db] = float_args(info, 7, {"dx", "dw", "db"});
  need(info, dy.length == n * d && x.length == n * d && dx.length == n * d && w.length == d && dw.length == d &&
                 db.length == d && mean.length == n && rstd.length == n, "layerNormGrad: sizes do not match [n, d]");
  lora::layernorm_bwd(dy.data, x.data, w.data, mean.data, rstd.data, n, d, dx.data, dw.data, db.data);
  return info.Env().Undefined();
}

// rope(x, cos, sin, b, h, t, hd, cb, y, backward)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  auto [x, c, s] = float_args(info, 0, {"x", "cos", "sin"});
  auto [b, h, t, hd, cb] = int_args(info, 3, {"b", "h", "t", "hd", "cb"});
  auto y = array_arg<float>(info, 8, "y");
  need(info, hd % 2 == 0, "rope: the head size must be even");
  need(info, cb == 1 || cb == b, "rope: cos/sin batch must be 1 or B");
  need(info, x.length == b * h * t * hd && y.length == x.length && c.length == cb * t * hd && s.length == c.length,
       "rope: sizes do not match x [B, H, T, hd], cos/sin [cb, T, hd]");
  if (info[9].ToBoolean()) lora::rope_bwd(x.data, c.data, s.data, b, h, t, hd, cb, y.data);
  else lora::rope_fwd(x.data, c.data, s.data, b, h, t, hd, cb, y.data);
  return info.Env().Undefined();
}

// attention(q, k, v, mask | null, b, nh, nkv, t, tk, hd, mb, scale, out, probs)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  auto [q, k, v] = float_args(info, 0, {"q", "k", "v"});
  const bool has_mask = !info[3].IsNull() && !info[3].IsUndefined();
  ArrayView<float> mask{nullptr, 0};
  if (has_mask) mask = array_arg<float>(info, 3, "mask");
  auto [b, nh, nkv, t, tk, hd, mb] = int_args(info, 4, {"b", "nh", "nkv", "t", "tk", "hd", "mb"});
  float scale = static_cast<float>(num_arg(info, 11, "scale"));
  auto [out, probs] = float_args(info, 12, {"out", "probs"});
  need(info, nkv > 0 && nh % nkv == 0, "attention: query heads must be a multiple of key/value heads");
  need(info, q.length == b * nh * t * hd && out.length == q.length && k.length == b * nkv * tk * hd &&
                 v.length == k.length && probs.length == b * nh * t * tk, "attention: sizes do not match q [B, nH, T, hd], k/v [B, nKV, Tk, hd]");
  need(info, !has_mask || ((mb == 1 || mb == b) && mask.length == mb * t * tk), "attention: mask must be [1 or B, T, Tk]");
  lora::attention_fwd(q.data, k.data, v.data, has_mask ? mask.data : nullptr, b, nh, nkv, t, tk, hd, mb, scale, out.data,
                      probs.data);
  return info.Env().Undefined();
}

// attentionGrad(dout, q, k, v, probs, b, nh, nkv, t, tk, hd, scale, dq, dk, dv)
Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  auto [dout, q, k, v, probs] = float_args(info, 0, {"dout", "q", "k", "v", "probs"});
  auto [b, nh, nkv, t, tk, hd] = int_args(info, 5, {"b", "nh", "nkv", "t", "tk", "hd"});
  float scale = static_cast<float>(num_arg(info, 11, "scale"));
  auto [dq, dk, dv] = float_args(info, 12, {"dq", "dk", "dv"});
  need(info, nkv > 0 && nh % nkv == 0, "attentionGrad: query heads must be a multiple of key/value heads");
  need(info, q.length == b * nh * t * hd && dout.length == q.length && dq.length == q.length &&
                 k.length == b * nkv * tk * hd && v.length == k.length && dk.length == k.length && dv.length == k.length &&
                 probs.length == b * nh * t * tk, "attentionGrad: sizes do not match");
  lora::attention_bwd(dout.data, q.data, k.data, v.data, probs.data, b, nh, nkv, t, tk, hd, scale, dq.data, dk.data, dv.data);
  return info.Env().Undefined();
}

// swiglu(g, u, y) / swigluGrad(dy, g, u, dg, du)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  auto [g, u, y] = float_args(info, 0, {"gate", "up", "y"});
  need(info, u.length == g.length && y.length == g.length, "swiglu: gate, up and y must have one length");
  lora::swiglu_fwd(g.data, u.data, g.length, y.data);
  return info.Env().Undefined();
}

Napi::Value SwigluGrad(const Napi::CallbackInfo& info) {
  auto [dy, g, u, dg, du] = float_args(info, 0, {"dy", "gate", "up", "dgate", "dup"});
  need(info, dy.length == g.length && u.length == g.length && dg.length == g.length && du.length == g.length,
       "swigluGrad: arrays must have one length");
  lora::swiglu_bwd(dy.data, g.data, u.data, g.length, dg.data, du.data);
  return info.Env().Undefined();
}

// gelu(x, y) / geluGrad(dy, x, dx)
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  auto [x, y] = float_args(info, 0, {"x", "y"});
  need(info, y.length == x.length, "gelu: x and y must have one length");
  lora::gelu_fwd(x.data, x.length, y.data);
  return info.Env().Undefined();
}

Napi::Value GeluGrad(const Napi::CallbackInfo& info) {
  auto [dy, x, dx] = float_args(info, 0, {"dy", "x", "dx"});
  need(info, dy.length == x.length && dx.length == x.length, "geluGrad: arrays must have one length");
  lora::gelu_bwd(dy.data, x.data, x.length, dx.data);
  return info.Env().Undefined();
}

// crossEntropy(logits, targets, weights, n, v, lse) -> loss
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  auto logits = array_arg<float>(info, 0, "logits");
  auto targets = array_arg<int32_t>(info, 1, "targets");
  auto weights = array_arg<float>(info, 2, "weights");
  auto [n, v] = int_args(info, 3, {"n", "v"});
  auto lse = array_arg<float>(info, 5, "lse");
  need(info, logits.length == n * v && targets.length == n && weights.length == n && lse.length == n,
       "crossEntropy: sizes do not match logits [N, V], targets/weights [N]");
  double loss = 0;
  int64_t bad = -1;
  if (!lora::xent_fwd(logits.data, targets.data, weights.data, n, v, lse.data, &loss, &bad)) {
    throw Napi::RangeError::New(info.Env(), "crossEntropy: target " + std::to_string(targets.data[bad]) + " of row " +
                                                std::to_string(bad) + " is outside the vocabulary [0, " +
                                                std::to_string(v) + ")");
  }
  return Napi::Number::New(info.Env(), loss);
}

// crossEntropyGrad(dy, logits, targets, weights, lse, n, v, dlogits)
Napi::Value CrossEntropyGrad(const Napi::CallbackInfo& info) {
  float dy = static_cast<float>(num_arg(info, 0, "dy"));
  auto logits = array_arg<float>(info, 1, "logits");
  auto targets = array_arg<int32_t>(info, 2, "targets");
  auto [weights, lse] = float_args(info, 3, {"weights", "lse"});
  auto [n, v] = int_args(info, 5, {"n", "v"});
  auto dl = array_arg<float>(info, 7, "dlogits");
  need(info, logits.length == n * v && dl.length == n * v && targets.length == n && weights.length == n && lse.length == n,
       "crossEntropyGrad: sizes do not match");
  for (int64_t i = 0; i < n; ++i)
    need(info, weights.data[i] == 0.0f || (targets.data[i] >= 0 && targets.data[i] < v), "crossEntropyGrad: target outside the vocabulary");
  lora::xent_bwd(dy, logits.data, targets.data, weights.data, lse.data, n, v, dl.data);
  return info.Env().Undefined();
}

// Optional float32 array argument: null/undefined gives {nullptr, 0}.
ArrayView<float> optional_floats(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return {nullptr, 0};
  return array_arg<float>(info, i, name);
}

// loraLinear(x, xl | null, w, bias | null, a, b, n, in, out, r, scale, y, h)
Napi::Value LoraLinear(const Napi::CallbackInfo& info) {
  auto x = array_arg<float>(info, 0, "x");
  auto xl = optional_floats(info, 1, "xl");
  auto w = array_arg<float>(info, 2, "w");
  auto bias = optional_floats(info, 3, "bias");
  auto [a, b] = float_args(info, 4, {"a", "b"});
  auto [n, in, out, r] = int_args(info, 6, {"n", "in", "out", "r"});
  float scale = static_cast<float>(num_arg(info, 10, "scale"));
  auto [y, h] = float_args(info, 11, {"y", "h"});
  need(info, x.length == n * in && (!xl.data || xl.length == n * in) && w.length == out * in &&
                 (!bias.data || bias.length == out) && a.length == r * in && b.length == out * r && y.length == n * out &&
                 h.length == n * r, "loraLinear: sizes do not match x [N, in], W [out, in], A [r, in], B [out, r]");
  lora::lora_linear_fwd(x.data, xl.data, w.data, bias.data, a.data, b.data, n, in, out, r, scale, y.data, h.data);
  return info.Env().Undefined();
}

// loraLinearGrad(dy, x, xl | null, w, a, b, h, n, in, out, r, scale, dx, dxl | null, da, db)
Napi::Value LoraLinearGrad(const Napi::CallbackInfo& info) {
  auto [dy, x] = float_args(info, 0, {"dy", "x"});
  auto xl = optional_floats(info, 2, "xl");
  auto [w, a, b, h] = float_args(info, 3, {"w", "a", "b", "h"});
  auto [n, in, out, r] = int_args(info, 7, {"n", "in", "out", "r"});
  float scale = static_cast<float>(num_arg(info, 11, "scale"));
  auto dx = array_arg<float>(info, 12, "dx");
  auto dxl = optional_floats(info, 13, "dxl");
  auto [da, db] = float_args(info, 14, {"da", "db"});
  need(info, dy.length == n * out && x.length == n * in && w.length == out * in && a.length == r * in &&
                 b.length == out * r && h.length == n * r && dx.length == n * in && da.length == r * in && db.length == out * r,
       "loraLinearGrad: sizes do not match");
  need(info, (xl.data == nullptr) == (dxl.data == nullptr) && (!xl.data || (xl.length == n * in && dxl.length == n * in)),
       "loraLinearGrad: xl and dxl go together, both [N, in]");
  lora::lora_linear_bwd(dy.data, x.data, xl.data, w.data, a.data, b.data, h.data, n, in, out, r, scale, dx.data, dxl.data,
                        da.data, db.data);
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  lora::pool_set_threads(static_cast<int>(int_arg(info, 0, "threads")));
  lora::gemm_sync_threads();
  return Napi::Number::New(info.Env(), lora::pool_threads());
}

Napi::Value SetGemmMode(const Napi::CallbackInfo& info) {
  lora::gemm_set_mode(info[0].ToString().Utf8Value());
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("threads", lora::pool_threads());
  o.Set("gemmMode", lora::gemm_mode());
  o.Set("blas", lora::blas_info());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lora::gemm_sync_threads();
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("compare", Napi::Function::New(env, Compare));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("transpose", Napi::Function::New(env, Transpose));
  exports.Set("copyRegion", Napi::Function::New(env, CopyRegion));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("rmsNormGrad", Napi::Function::New(env, RmsNormGrad));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad));
  exports.Set("rope", Napi::Function::New(env, Rope));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad));
  exports.Set("swiglu", Napi::Function::New(env, Swiglu));
  exports.Set("swigluGrad", Napi::Function::New(env, SwigluGrad));
  exports.Set("gelu", Napi::Function::New(env, Gelu));
  exports.Set("geluGrad", Napi::Function::New(env, GeluGrad));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("loraLinear", Napi::Function::New(env, LoraLinear));
  exports.Set("loraLinearGrad", Napi::Function::New(env, LoraLinearGrad));
  exports.Set("crossEntropyGrad", Napi::Function::New(env, CrossEntropyGrad));
  Napi::Array unary_ops = Napi::Array::New(env), binary_ops = Napi::Array::New(env), compare_ops = Napi::Array::New(env);
  for (uint32_t i = 0; i < lora::kUnaryCount; ++i) unary_ops.Set(i, lora::kUnaryNames[i]);
  for (uint32_t i = 0; i < lora::kBinaryCount; ++i) binary_ops.Set(i, lora::kBinaryNames[i]);
  for (uint32_t i = 0; i < lora::kCompareCount; ++i) compare_ops.Set(i, lora::kCompareNames[i]);
  exports.Set("unaryOps", unary_ops);
  exports.Set("binaryOps", binary_ops);
  exports.Set("compareOps", compare_ops);
  lora::register_merge(env, exports);
  lora::register_files(env, exports);
  lora::register_merge_file(env, exports);
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("setGemmMode", Napi::Function::New(env, SetGemmMode));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(lora_native, Init)
