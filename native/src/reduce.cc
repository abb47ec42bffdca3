// Reductions. Summation order is fixed by the data size alone (16 lanes
// inside blocks of kBlock values, blocks added left to right), never by the
// thread count, so sums are bit-identical with 1 or many threads.
#include "reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "pool.h"
#include "vmath.h"

namespace lora {
namespace {

constexpr int64_t kBlock = 1 << 14;      // values per summation block
constexpr int64_t kColBlock = 256;       // rows per partial in column sums
constexpr int64_t kGrain = 1 << 15;

LORA_SIMD float sum_block(const float* x, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += x[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

inline float nan_max(float a, float b) { return (b != b || b > a) ? b : a; }
inline float nan_min(float a, float b) { return (b != b || b < a) ? b : a; }

LORA_SIMD float dot_block(const float* a, const float* b, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

#if defined(__GNUC__) && !defined(__clang__)
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

LORA_SIMD float max_block(const float* x, int64_t n, bool is_max) {
  // NaN anywhere gives NaN, as in tfjs. GCC vector extensions: 8 lanes, two
  // accumulators; lowered to whatever SIMD the clone targets.
  const float init = is_max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  v8f a0 = {init, init, init, init, init, init, init, init}, a1 = a0;
  v8i nan = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v8f v0, v1;
    std::memcpy(&v0, x + i, 32);
    std::memcpy(&v1, x + i + 8, 32);
    if (is_max) {
      a0 = v0 > a0 ? v0 : a0;
      a1 = v1 > a1 ? v1 : a1;
    } else {
      a0 = v0 < a0 ? v0 : a0;
      a1 = v1 < a1 ? v1 : a1;
    }
    nan |= (v0 != v0) | (v1 != v1);
  }
  bool any_nan = false;
  float m = init;
  for (int j = 0; j < 8; ++j) {
    any_nan |= nan[j] != 0;
    m = is_max ? nan_max(nan_max(m, a0[j]), a1[j]) : nan_min(nan_min(m, a0[j]), a1[j]);
  }
  for (; i < n; ++i) m = is_max ? nan_max(m, x[i]) : nan_min(m, x[i]);
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : m;
}
#else
// Clang if-converts and vectorises this form by itself.
float max_block(const float* x, int64_t n, bool is_max) {
  const float init = is_max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  float acc[16];
  int32_t nan[16] = {0};
  for (int j = 0; j < 16; ++j) acc[j] = init;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) {
      float v = x[i + j];
      acc[j] = is_max ? (v > acc[j] ? v : acc[j]) : (v < acc[j] ? v : acc[j]);
      nan[j] |= v != v;
    }
  bool any_nan = false;
  float m = init;
  for (int j = 0; j < 16; ++j) {
    any_nan |= nan[j] != 0;
    m = is_max ? nan_max(m, acc[j]) : nan_min(m, acc[j]);
  }
  for (; i < n; ++i) m = is_max ? nan_max(m, x[i]) : nan_min(m, x[i]);
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : m;
}
#endif

// acc[j] op= x[r * stride + j] for r < rows, j < width.
LORA_SIMD void add_rows_into(float* acc, const float* x, int64_t rows, int64_t width, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j) acc[j] += x[r * stride + j];
}

LORA_SIMD void max_rows_into(float* acc, const float* x, int64_t rows, int64_t width, int64_t stride, bool is_max) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < width; ++j) {
      float v = x[r * stride + j], a = acc[j];
      acc[j] = (v != v || a != a) ? std::numeric_limits<float>::quiet_NaN() : (is_max ? (v > a ? v : a) : (v < a ? v : a));
    }
}

float combine_block_sums(const float* x, int64_t n) {
  if (n <= kBlock) return sum_block(x, n);
  float s = 0;
  for (int64_t b = 0; b < n; b += kBlock) s += sum_block(x + b, std::min(kBlock, n - b));
  return s;
}

LORA_SIMD void exp_shift(const float* x, float* out, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) out[i] = vexp(x[i] - shift);
}

LORA_SIMD void scale_div(float* x, int64_t n, float d) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / d;
}

LORA_SIMD void sub_scalar(const float* x, float* out, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - s;
}

}  // namespace

float sum_contiguous(const float* x, int64_t n) { return combine_block_sums(x, n); }

float max_contiguous(const float* x, int64_t n) { return max_block(x, n, true); }

float dot_contiguous(const float* a, const float* b, int64_t n) {
  if (n <= kBlock) return dot_block(a, b, n);
  float s = 0;
  for (int64_t i = 0; i < n; i += kBlock) s += dot_block(a + i, b + i, std::min(kBlock, n - i));
  return s;
}

void softmax_inplace(float* x, int64_t n) {
  float m = max_block(x, n, true);
  exp_shift(x, x, n, m);
  scale_div(x, n, combine_block_sums(x, n));
}

void reduce_rows(int op, const float* x, int64_t rows, int64_t cols, float* out) {
  if (rows == 0) return;
  const bool is_sum = op == kReduceSum || op == kReduceMean;
  if (cols == 0) {
    float v = is_sum ? 0.0f : (op == kReduceMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity());
    if (op == kReduceMean) v = std::numeric_limits<float>::quiet_NaN();
    std::fill(out, out + rows, v);
    return;
  }
  auto finish = [&](float s) { return op == kReduceMean ? s / static_cast<float>(cols) : s; };
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  if (is_sum && rows < pool_threads() && blocks > 1) {
    // Few long rows: block partials in parallel, then added in order.
    std::vector<float> part(rows * blocks);
    pool_run(rows * blocks, [&](int64_t t) {
      int64_t r = t / blocks, b = t % blocks;
      part[t] = sum_block(x + r * cols + b * kBlock, std::min(kBlock, cols - b * kBlock));
    });
    for (int64_t r = 0; r < rows; ++r) {
      float s = 0;
      for (int64_t b = 0; b < blocks; ++b) s += part[r * blocks + b];
      out[r] = finish(s);
    }
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrain / cols), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* row = x + r * cols;
      out[r] = is_sum ? finish(combine_block_sums(row, cols)) : max_block(row, cols, op == kReduceMax);
    }
  });
}

void reduce_cols(int op, const float* x, int64_t outer, int64_t r, int64_t inner, float* out) {
  const bool is_sum = op == kReduceSum || op == kReduceMean;
  if (outer * inner == 0) return;
  if (r == 0) {
    reduce_rows(op, x, outer * inner, 0, out);
    return;
  }
  // Partials over fixed runs of kColBlock rows, combined in order; tasks are
  // (outer, row block, column chunk) so that short wide and tall narrow
  // inputs both spread over the pool.
  const int64_t rblocks = (r + kColBlock - 1) / kColBlock;
  const int64_t cchunk = std::max<int64_t>(64, std::min<int64_t>(inner, kGrain / std::min<int64_t>(r, kColBlock)));
  const int64_t cchunks = (inner + cchunk - 1) / cchunk;
  std::vector<float> part(outer * rblocks * inner);
  pool_run(outer * rblocks * cchunks, [&](int64_t t) {
    int64_t o = t / (rblocks * cchunks), rb = (t / cchunks) % rblocks, cc = t % cchunks;
    int64_t r0 = rb * kColBlock, r1 = std::min(r, r0 + kColBlock);
    int64_t c0 = cc * cchunk, c1 = std::min(inner, c0 + cchunk);
    float* acc = part.data() + (o * rblocks + rb) * inner + c0;
    const float* src = x + (o * r + r0) * inner + c0;
    std::copy(src, src + (c1 - c0), acc);
    if (is_sum) add_rows_into(acc, src + inner, r1 - r0 - 1, c1 - c0, inner);
    else max_rows_into(acc, src + inner, r1 - r0 - 1, c1 - c0, inner, op == kReduceMax);
  });
  for (int64_t o = 0; o < outer; ++o) {
    float* dst = out + o * inner;
    const float* p0 = part.data() + o * rblocks * inner;
    std::copy(p0, p0 + inner, dst);
    for (int64_t rb = 1; rb < rblocks; ++rb) {
      if (is_sum) add_rows_into(dst, p0 + rb * inner, 1, inner, inner);
      else max_rows_into(dst, p0 + rb * inner, 1, inner, inner, op == kReduceMax);
    }
    if (op == kReduceMean)
      for (int64_t j = 0; j < inner; ++j) dst[j] /= static_cast<float>(r);
  }
}

void reduce(int op, const float* x, const std::vector<int64_t>& shape, const std::vector<bool>& reduced, float* out) {
  // Collapse to alternating kept/reduced runs, dropping size-1 axes.
  std::vector<int64_t> dims;
  std::vector<bool> red;
  int64_t total = 1, kept = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    total *= shape[i];
    if (!reduced[i]) kept *= shape[i];
    if (shape[i] == 1) continue;
    if (!dims.empty() && red.back() == reduced[i]) dims.back() *= shape[i];
    else {
      dims.push_back(shape[i]);
      red.push_back(reduced[i]);
    }
  }
  if (kept == 0) return;
  if (total == 0) return reduce_rows(op, x, kept, 0, out);
  const size_t n = dims.size();
  if (n == 0) return reduce_rows(op, x, 1, 1, out);
  if (n == 1) return red[0] ? reduce_rows(op, x, 1, dims[0], out) : reduce_rows(op, x, dims[0], 1, out);
  if (n == 2) return red[1] ? reduce_rows(op, x, dims[0], dims[1], out) : reduce_cols(op, x, 1, dims[0], dims[1], out);
  if (n == 3 && !red[0]) return reduce_cols(op, x, dims[0], dims[1], dims[2], out);
  // Anything else: move the reduced axes last, then reduce rows.
  std::vector<int64_t> perm;
  for (size_t i = 0; i < n; ++i) if (!red[i]) perm.push_back(i);
  int64_t rsize = 1;
  for (size_t i = 0; i < n; ++i) if (red[i]) { perm.push_back(i); rsize *= dims[i]; }
  std::vector<float> tmp(total);
  transpose(x, dims, perm, tmp.data(), 4);
  reduce_rows(op, tmp.data(), total / rsize, rsize, out);
}

void softmax_rows(const float* x, int64_t rows, int64_t cols, float* out) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      float m = max_block(xr, cols, true);
      exp_shift(xr, o, cols, m);
      scale_div(o, cols, combine_block_sums(o, cols));
    }
  });
}

void log_softmax_rows(const float* x, int64_t rows, int64_t cols, float* out) {
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * cols;
      float* o = out + r * cols;
      float m = max_block(xr, cols, true);
      exp_shift(xr, o, cols, m);
      float lse = m + std::log(combine_block_sums(o, cols));
      sub_scalar(xr, o, cols, lse);
    }
  });
}

}  // namespace lora
