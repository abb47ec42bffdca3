#include "elementwise.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pool.h"
#include "vmath.h"

namespace lora {

const char* const kUnaryNames[] = {
#define X(name) #name,
    LORA_UNARY_OPS(X)
#undef X
};
const char* const kBinaryNames[] = {
#define X(name) #name,
    LORA_BINARY_OPS(X)
#undef X
};
const char* const kCompareNames[] = {
#define X(name) #name,
    LORA_COMPARE_OPS(X)
#undef X
};

namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per task: ~10 µs of work

inline float nan_max(float a, float b) {
  return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b);
}
inline float nan_min(float a, float b) {
  return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b);
}
// JS's Math.pow, which tfjs's CPU kernel uses: x^NaN is NaN and (±1)^±Inf is
// NaN, where C's pow gives 1.
inline float js_pow(float x, float y) {
  if (y != y || (std::fabs(x) == 1.0f && std::isinf(y))) return std::numeric_limits<float>::quiet_NaN();
  return std::pow(x, y);
}
inline float softplus(float x) {
  // log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
  float ax = x < 0 ? -x : x;
  return (x > 0 ? x : 0.0f) + vlog(1.0f + vexp(-ax));
}

LORA_SIMD void unary_run(int op, const float* x, float* o, int64_t n) {
#define MAP(expr)                                          \
  for (int64_t i = 0; i < n; ++i) { float v = x[i]; o[i] = (expr); } \
  break;
  switch (op) {
    case kUnaryExp: MAP(vexp(v))
    case kUnaryLog: MAP(vlog(v))
    case kUnarySqrt: MAP(std::sqrt(v))
    case kUnaryRsqrt: MAP(1.0f / std::sqrt(v))
    case kUnarySquare: MAP(v * v)
    case kUnaryNeg: MAP(-v)
    case kUnarySigmoid: MAP(vsigmoid(v))
    case kUnaryTanh: MAP(vtanh(v))
    case kUnaryRelu: MAP(v < 0.0f ? 0.0f : v)
    case kUnaryAbs: MAP(std::fabs(v))
    case kUnaryReciprocal: MAP(1.0f / v)
    case kUnarySoftplus: MAP(softplus(v))
  }
#undef MAP
}

LORA_SIMD void binary_run(int op, const float* a, int64_t sa, const float* b, int64_t sb, void* out, int64_t n) {
  float* o = static_cast<float*>(out);
  // Four loops per op so each has unit or zero strides the compiler can see.
#define MAP(expr)                                                               \
  if (sa == 1 && sb == 1) {                                                     \
    for (int64_t i = 0; i < n; ++i) { float x = a[i], y = b[i]; o[i] = (expr); } \
  } else if (sa == 1) {                                                         \
    const float y = b[0];                                                       \
    for (int64_t i = 0; i < n; ++i) { float x = a[i]; o[i] = (expr); }          \
  } else if (sb == 1) {                                                         \
    const float x = a[0];                                                       \
    for (int64_t i = 0; i < n; ++i) { float y = b[i]; o[i] = (expr); }          \
  } else {                                                                      \
    const float x = a[0], y = b[0], v = (expr);                                 \
    for (int64_t i = 0; i < n; ++i) o[i] = v;                                   \
  }                                                                             \
  break;
  switch (op) {
    case kBinaryAdd: MAP(x + y)
    case kBinarySub: MAP(x - y)
    case kBinaryMultiply: MAP(x * y)
    case kBinaryRealDiv: MAP(x / y)
    case kBinaryMaximum: MAP(nan_max(x, y))
    case kBinaryMinimum: MAP(nan_min(x, y))
    case kBinaryPow: MAP(js_pow(x, y))
    case kBinarySquaredDifference: MAP((x - y) * (x - y))
  }
#undef MAP
}

LORA_SIMD void compare_run(int op, const float* a, int64_t sa, const float* b, int64_t sb, void* out, int64_t n) {
  uint8_t* o = static_cast<uint8_t*>(out);
#define MAP(expr)                                                                       \
  if (sa == 1 && sb == 1) {                                                             \
    for (int64_t i = 0; i < n; ++i) { float x = a[i], y = b[i]; o[i] = (expr) ? 1 : 0; } \
  } else if (sa == 1) {                                                                 \
    const float y = b[0];                                                               \
    for (int64_t i = 0; i < n; ++i) { float x = a[i]; o[i] = (expr) ? 1 : 0; }          \
  } else if (sb == 1) {                                                                 \
    const float x = a[0];                                                               \
    for (int64_t i = 0; i < n; ++i) { float y = b[i]; o[i] = (expr) ? 1 : 0; }          \
  } else {                                                                              \
    const float x = a[0], y = b[0];                                                     \
    const uint8_t v = (expr) ? 1 : 0;                                                   \
    for (int64_t i = 0; i < n; ++i) o[i] = v;                                           \
  }                                                                                     \
  break;
  switch (op) {
    case kCompareEqual: MAP(x == y)
    case kCompareNotEqual: MAP(x != y)
    case kCompareGreater: MAP(x > y)
    case kCompareGreaterEqual: MAP(x >= y)
    case kCompareLess: MAP(x < y)
    case kCompareLessEqual: MAP(x <= y)
  }
#undef MAP
}

}  // namespace

void unary(int op, const float* x, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { unary_run(op, x + lo, out + lo, hi - lo); });
}

bool broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b, std::vector<int64_t>* out) {
  size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

void broadcast_rows(int op, BinaryRowFn f, const float* a, const std::vector<int64_t>& aShape, const float* b,
                    const std::vector<int64_t>& bShape, void* out, int out_bytes, int64_t grain) {
  std::vector<int64_t> oshape;
  broadcast_shape(aShape, bShape, &oshape);
  const size_t r = oshape.size();
  int64_t total = 1;
  for (int64_t d : oshape) total *= d;
  if (total == 0) return;
  // Strides of a and b in the output's index space (0 where broadcast), then
  // adjacent dimensions merged where both operands stay contiguous.
  std::vector<int64_t> sa(r), sb(r);
  for (int pass = 0; pass < 2; ++pass) {
    const auto& shp = pass == 0 ? aShape : bShape;
    auto& st = pass == 0 ? sa : sb;
    int64_t s = 1;
    for (size_t i = r; i-- > 0;) {
      size_t off = r - shp.size();
      int64_t d = i < off ? 1 : shp[i - off];
      st[i] = d == 1 ? 0 : s;
      s *= d;
    }
  }
  std::vector<int64_t> dims, ca, cb;
  for (size_t i = 0; i < r; ++i) {
    if (oshape[i] == 1) continue;
    if (!dims.empty() && ca.back() == sa[i] * oshape[i] && cb.back() == sb[i] * oshape[i]) {
      dims.back() *= oshape[i];
      ca.back() = sa[i];
      cb.back() = sb[i];
    } else {
      dims.push_back(oshape[i]);
      ca.push_back(sa[i]);
      cb.push_back(sb[i]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    ca.push_back(0);
    cb.push_back(0);
  }
  const int64_t inner = dims.back(), sai = ca.back(), sbi = cb.back();
  const size_t outer_rank = dims.size() - 1;
  parallel_for(total, grain, [&](int64_t lo, int64_t hi) {
    int64_t idx = lo;
    while (idx < hi) {
      int64_t row = idx / inner, col = idx % inner;
      int64_t aoff = 0, boff = 0;
      for (size_t d = outer_rank; d-- > 0;) {
        int64_t i = row % dims[d];
        row /= dims[d];
        aoff += i * ca[d];
        boff += i * cb[d];
      }
      int64_t len = std::min(inner - col, hi - idx);
      f(op, a + aoff + col * sai, sai, b + boff + col * sbi, sbi, static_cast<char*>(out) + idx * out_bytes, len);
      idx += len;
    }
  });
}

void binary(int op, const float* a, const std::vector<int64_t>& aShape, const float* b,
            const std::vector<int64_t>& bShape, float* out) {
  broadcast_rows(op, binary_run, a, aShape, b, bShape, out, 4, kGrain);
}

void compare(int op, const float* a, const std::vector<int64_t>& aShape, const float* b,
             const std::vector<int64_t>& bShape, uint8_t* out) {
  broadcast_rows(op, compare_run, a, aShape, b, bShape, out, 1, kGrain);
}

}  // namespace lora
