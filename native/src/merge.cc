// LoRA merge and float conversion on stored bytes; see merge.h.
//
// Work is split by stored rows into one contiguous block per thread. A row
// goes 32 columns at a time: their sums stay in four 8-float vectors over the
// k loop (the basis rows are small enough to stay in L1/L2), the weights are
// decoded, added, checked and encoded in registers, so the stored bytes are
// read once and written once.
#include "merge.h"

// The JS reference (merge-kernels.ts) rounds every product and every sum; a
// fused multiply-add, which -ffp-contract=fast forms in the AVX2+FMA clone,
// would round once and change low bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
// 32-byte vectors in always-inline helpers of the baseline clone: no ABI is involved.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "pool.h"
#include "vmath.h"

namespace lora {

int stored_float_bytes(int type) {
  switch (type) {
    case kStoredF32: return 4;
    case kStoredF16:
    case kStoredBF16: return 2;
    case kStoredF64: return 8;
    default: return 0;
  }
}

namespace {

constexpr int64_t kGrain = 1 << 16;  // elements per thread at least
constexpr float kF16Max = 65504.0f;

// ---- one element ----

LORA_INLINE uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
LORA_INLINE float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
LORA_INLINE uint16_t load_u16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
LORA_INLINE void store_u16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// F16 bits -> float, as dtypes.ts's table: NaN becomes the positive quiet NaN
// (what V8 stores for JS's NaN), subnormals are exact (frac * 2^-24).
LORA_INLINE float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t em = h & 0x7fff;
  const uint32_t normal = (em << 13) + ((127 - 15) << 23);
  const uint32_t sub = f32_bits(static_cast<float>(em) * 5.9604644775390625e-8f);
  uint32_t bits = em >= 0x400 ? normal : sub;
  bits = em == 0x7c00 ? 0x7f800000u : bits;
  return em > 0x7c00 ? bits_f32(0x7fc00000u) : bits_f32(sign | bits);
}

// float -> BF16 bits, nearest even; NaN stays a quiet NaN (dtypes.ts f32ToBf16).
LORA_INLINE uint16_t f32_to_bf16(float v) {
  const uint32_t x = f32_bits(v);
  const bool nan = (x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu);
  const uint16_t rounded = static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  return nan ? static_cast<uint16_t>((x >> 16) | 0x40) : rounded;
}

// float -> F16 bits, nearest even, overflow to Inf (dtypes.ts f32ToF16Bits).
LORA_INLINE uint16_t f32_to_f16(float v) {
  const uint32_t x = f32_bits(v);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  const int32_t e = exp - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const int shift = 14 - e;
    const uint32_t half = 1u << (shift - 1);
    const uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t out = mant >> shift;
    if (rest > half || (rest == half && (out & 1))) out += 1;
    return static_cast<uint16_t>(sign | out);
  }
  const uint32_t rest = mant & 0x1fff;
  uint32_t out = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  if (rest > 0x1000 || (rest == 0x1000 && (out & 1))) out += 1;
  return static_cast<uint16_t>(sign | out);
}

template <int T>
LORA_INLINE float load_stored(const uint8_t* p, int64_t j) {
  if constexpr (T == kStoredF32) {
    float f;
    std::memcpy(&f, p + 4 * j, 4);
    return f;
  } else if constexpr (T == kStoredBF16) {
    return bits_f32(static_cast<uint32_t>(load_u16(p + 2 * j)) << 16);
  } else if constexpr (T == kStoredF16) {
    return f16_to_f32(load_u16(p + 2 * j));
  } else {
    double d;
    std::memcpy(&d, p + 8 * j, 8);
    return static_cast<float>(d);
  }
}

template <int T>
LORA_INLINE void store_stored(uint8_t* p, int64_t j, float v) {
  if constexpr (T == kStoredF32) std::memcpy(p + 4 * j, &v, 4);
  else if constexpr (T == kStoredBF16) store_u16(p + 2 * j, f32_to_bf16(v));
  else store_u16(p + 2 * j, f32_to_f16(v));
}

// The largest magnitude T holds (BF16: bits 0x7f7f8000 and up round to Inf,
// a tie going to the even Inf; F16: 65504, as dtypes' |v| > 65504 check).
template <int T>
LORA_INLINE float stored_limit() {
  if constexpr (T == kStoredF32) return std::numeric_limits<float>::max();
  else if constexpr (T == kStoredBF16) return bits_f32(0x7f7f7fffu);
  else return kF16Max;
}

// A merged value the export refuses: NaN, ±Inf, or beyond T's range.
template <int T>
LORA_INLINE bool merge_refuses(float v) { return !(std::fabs(v) <= stored_limit<T>()); }

// A converted value that T cannot hold: a finite value rounding to Inf; for
// F16 also ±Inf (above 65504, as dtypes' check); NaN passes.
template <int T>
LORA_INLINE bool convert_refuses(float v) {
  const float a = std::fabs(v);
  if constexpr (T == kStoredF16) return a > kF16Max;
  else return a > stored_limit<T>() && a != std::numeric_limits<float>::infinity();
}

// One merged element, as the JS reference computes it in float32:
// s = 0; s = s + coef[k]·basis[k·cols + j] (k in order); w' = w + s.
template <int ST>
LORA_INLINE float merged_value(const uint8_t* src, const float* coef, const float* basis, int64_t r, int64_t cols,
                               int64_t j) {
  float s = 0.0f;
  for (int64_t k = 0; k < r; ++k) s += coef[k] * basis[k * cols + j];
  return load_stored<ST>(src, j) + s;
}

// ---- eight at a time (GCC/Clang vector extensions: one AVX register in the
// x86-64-v3 clone, two SSE2 registers in the default one) ----

typedef float v8f __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

template <typename V>
LORA_INLINE V load_vec(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename V>
LORA_INLINE void store_vec(void* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename To, typename From>
LORA_INLINE To bit_cast_vec(const From& f) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  std::memcpy(&t, &f, sizeof t);
  return t;
}
LORA_INLINE v8u splat_u(uint32_t x) { return v8u{x, x, x, x, x, x, x, x}; }
LORA_INLINE v8f splat_f(float x) { return v8f{x, x, x, x, x, x, x, x}; }
LORA_INLINE v8u as_u(const v8f& f) { return bit_cast_vec<v8u>(f); }
LORA_INLINE v8f as_f(const v8u& u) { return bit_cast_vec<v8f>(u); }
// A comparison's result (signed lanes, all ones where true) as a select mask.
template <typename M>
LORA_INLINE v8u mask(const M& m) { return bit_cast_vec<v8u>(m); }
LORA_INLINE v8u select(const v8u& m, const v8u& a, const v8u& b) { return (m & a) | (~m & b); }
LORA_INLINE bool any(const v8u& m) {
  uint64_t h[4];
  std::memcpy(h, &m, 32);
  return (h[0] | h[1] | h[2] | h[3]) != 0;
}

// f16_to_f32 on eight lanes.
LORA_INLINE v8f f16_to_f32_v(const v8u& h) {
  const v8u sign = (h & splat_u(0x8000)) << 16;
  const v8u em = h & splat_u(0x7fff);
  const v8u normal = (em << 13) + splat_u((127 - 15) << 23);
  // em < 2^15: as a signed int it converts in one instruction, exactly.
  const v8f sub = __builtin_convertvector(bit_cast_vec<v8i>(em), v8f) * splat_f(5.9604644775390625e-8f);
  v8u bits = select(mask(em >= splat_u(0x400)), normal, as_u(sub));
  bits = select(mask(em == splat_u(0x7c00)), splat_u(0x7f800000u), bits);
  return as_f(select(mask(em > splat_u(0x7c00)), splat_u(0x7fc00000u), sign | bits));
}

// f32_to_bf16 on eight lanes.
LORA_INLINE v8h f32_to_bf16_v(const v8f& v) {
  const v8u x = as_u(v);
  const v8u nan = mask((x & splat_u(0x7f800000u)) == splat_u(0x7f800000u)) & mask((x & splat_u(0x7fffffu)) != splat_u(0));
  const v8u rounded = (x + splat_u(0x7fffu) + ((x >> 16) & splat_u(1))) >> 16;
  return __builtin_convertvector(select(nan, (x >> 16) | splat_u(0x40), rounded), v8h);
}

// f32_to_f16 on eight lanes, branch-free: normal halves round by adding
// 0xfff plus the kept lsb before the shift; subnormal ones are |v|·2^24
// rounded to an integer by adding 2^23 in float (round to nearest even).
LORA_INLINE v8h f32_to_f16_v(const v8f& v) {
  const v8u x = as_u(v);
  const v8u sign = (x >> 16) & splat_u(0x8000);
  const v8u a = x & splat_u(0x7fffffffu);
  const v8i ai = bit_cast_vec<v8i>(a);  // < 2^31: signed compares are exact
  const v8u normal = (a - splat_u(0x38000000u) + splat_u(0xfff) + ((a >> 13) & splat_u(1))) >> 13;
  const v8u sub = as_u(as_f(a) * splat_f(16777216.0f) + splat_f(8388608.0f)) - splat_u(0x4b000000u);
  v8u out = select(mask(ai < bit_cast_vec<v8i>(splat_u(0x38800000u))), sub, normal);
  out = select(mask(ai >= bit_cast_vec<v8i>(splat_u(0x47800000u))), splat_u(0x7c00), out);  // Inf, or too large
  out = select(mask(ai > bit_cast_vec<v8i>(splat_u(0x7f800000u))), splat_u(0x7e00), out);   // NaN
  return __builtin_convertvector(sign | out, v8h);
}

template <int T>
LORA_INLINE v8f load8(const uint8_t* p, int64_t j) {
  if constexpr (T == kStoredF32) {
    return load_vec<v8f>(p + 4 * j);
  } else if constexpr (T == kStoredBF16) {
    return as_f(__builtin_convertvector(load_vec<v8h>(p + 2 * j), v8u) << 16);
  } else if constexpr (T == kStoredF16) {
    return f16_to_f32_v(__builtin_convertvector(load_vec<v8h>(p + 2 * j), v8u));
  } else {
    v8f v;
    for (int q = 0; q < 8; ++q) v[q] = load_stored<kStoredF64>(p, j + q);
    return v;
  }
}

template <int T>
LORA_INLINE void store8(uint8_t* p, int64_t j, const v8f& v) {
  if constexpr (T == kStoredF32) {
    store_vec(p + 4 * j, v);
  } else if constexpr (T == kStoredBF16) {
    store_vec(p + 2 * j, f32_to_bf16_v(v));
  } else {
    store_vec(p + 2 * j, f32_to_f16_v(v));
  }
}

// Lanes merge_refuses: |v| not <= the limit (NaN compares false).
LORA_INLINE v8u refused8(const v8f& v, const v8f& limit) { return ~mask(as_f(as_u(v) & splat_u(0x7fffffffu)) <= limit); }

// ---- rows ----

// One stored row: dst[j] = T(merged_value(j)). coefv holds each coef[k]
// eight times (one vector). Blocks of kCols columns keep their sums in kAcc
// vector registers over the k loop: enough independent sums to hide the add
// latency (the k order of each sum is fixed). Returns the column of the first
// refused value (dst is written up to its block, so its source is still
// readable in place), or -1.
constexpr int kAcc = 8;
constexpr int64_t kCols = 8 * kAcc;

template <int ST, int DT, int N>
LORA_INLINE bool merge_block(const uint8_t* src, uint8_t* dst, const float* coefv, const float* basis, int64_t r,
                             int64_t cols, int64_t j) {
  const v8f limit = splat_f(stored_limit<DT>());
  v8f s[N];
#pragma GCC unroll 8
  for (int q = 0; q < N; ++q) s[q] = splat_f(0.0f);
  for (int64_t k = 0; k < r; ++k) {
    const v8f c = load_vec<v8f>(coefv + 8 * k);
    const float* bk = basis + k * cols + j;
#pragma GCC unroll 8
    for (int q = 0; q < N; ++q) s[q] += c * load_vec<v8f>(bk + 8 * q);
  }
  v8u refused = splat_u(0);
#pragma GCC unroll 8
  for (int q = 0; q < N; ++q) {
    s[q] += load8<ST>(src, j + 8 * q);  // w + s: the same single rounding as s + w
    refused |= refused8(s[q], limit);
  }
  if (any(refused)) return false;
#pragma GCC unroll 8
  for (int q = 0; q < N; ++q) store8<DT>(dst, j + 8 * q, s[q]);
  return true;
}

template <int ST, int DT>
LORA_INLINE int64_t merge_row(const uint8_t* src, uint8_t* dst, const float* coef, const float* coefv,
                              const float* basis, int64_t r, int64_t cols) {
  int64_t j = 0, refused = 0;  // a refused block is [j, j + refused)
  for (; j + kCols <= cols; j += kCols)
    if (!merge_block<ST, DT, kAcc>(src, dst, coefv, basis, r, cols, j)) {
      refused = kCols;
      break;
    }
  for (; !refused && j + 8 <= cols; j += 8)
    if (!merge_block<ST, DT, 1>(src, dst, coefv, basis, r, cols, j)) {
      refused = 8;
      break;
    }
  if (refused) {
    // The block is unwritten: find its first refused value from the source.
    for (int64_t q = j; q < j + refused; ++q)
      if (merge_refuses<DT>(merged_value<ST>(src, coef, basis, r, cols, q))) return q;
    return j;  // not reached: the vector and scalar checks agree
  }
  for (; j < cols; ++j) {
    const float v = merged_value<ST>(src, coef, basis, r, cols, j);
    if (merge_refuses<DT>(v)) return j;
    store_stored<DT>(dst, j, v);
  }
  return -1;
}

// dst[j] = T(src[j]) for n elements; the index of the first refused value, or -1.
template <int ST, int DT>
LORA_INLINE int64_t convert_run(const uint8_t* src, uint8_t* dst, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const v8f v = load8<ST>(src, j);
    if constexpr (DT != kStoredF32) {
      const v8u a = as_u(v) & splat_u(0x7fffffffu);
      v8u over = mask(as_f(a) > splat_f(stored_limit<DT>()));
      // BF16 lets ±Inf through: only finite values that round to Inf are refused.
      if constexpr (DT == kStoredBF16) over &= mask(a != splat_u(0x7f800000u));
      if (any(over)) {
        for (int64_t q = j; q < j + 8; ++q)
          if (convert_refuses<DT>(load_stored<ST>(src, q))) return q;
      }
    }
    store8<DT>(dst, j, v);
  }
  for (; j < n; ++j) {
    const float v = load_stored<ST>(src, j);
    if (convert_refuses<DT>(v)) return j;
    store_stored<DT>(dst, j, v);
  }
  return -1;
}

// The type pair is picked once per row (or run), in code compiled per CPU
// level (LORA_SIMD).
#define LORA_TYPE_PAIRS(X) \
  X(kStoredF32, kStoredF32) X(kStoredF32, kStoredF16) X(kStoredF32, kStoredBF16) \
  X(kStoredF16, kStoredF32) X(kStoredF16, kStoredF16) X(kStoredF16, kStoredBF16) \
  X(kStoredBF16, kStoredF32) X(kStoredBF16, kStoredF16) X(kStoredBF16, kStoredBF16) \
  X(kStoredF64, kStoredF32) X(kStoredF64, kStoredF16) X(kStoredF64, kStoredBF16)

LORA_SIMD int64_t merge_row_any(int st, int dt, const uint8_t* src, uint8_t* dst, const float* coef,
                                const float* coefv, const float* basis, int64_t r, int64_t cols) {
#define X(S, D) \
  if (st == S && dt == D) return merge_row<S, D>(src, dst, coef, coefv, basis, r, cols);
  LORA_TYPE_PAIRS(X)
#undef X
  return -1;
}

LORA_SIMD int64_t convert_any(int st, int dt, const uint8_t* src, uint8_t* dst, int64_t n) {
#define X(S, D) \
  if (st == S && dt == D) return convert_run<S, D>(src, dst, n);
  LORA_TYPE_PAIRS(X)
#undef X
  return -1;
}

float merged_value_any(int st, const uint8_t* src, const float* coef, const float* basis, int64_t r, int64_t cols,
                       int64_t j) {
  switch (st) {
    case kStoredF32: return merged_value<kStoredF32>(src, coef, basis, r, cols, j);
    case kStoredF16: return merged_value<kStoredF16>(src, coef, basis, r, cols, j);
    case kStoredBF16: return merged_value<kStoredBF16>(src, coef, basis, r, cols, j);
    default: return merged_value<kStoredF64>(src, coef, basis, r, cols, j);
  }
}

// Splits `rows` into contiguous blocks (one per thread, at most max_threads
// when > 0, each >= kGrain elements) and returns the first problem over all
// blocks. One block runs on the calling thread alone: no pool hand-off.
FloatProblem run_blocks(int64_t rows, int64_t cols, int max_threads,
                        const std::function<FloatProblem(int64_t, int64_t)>& block) {
  const int64_t per = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols));
  const int64_t threads = max_threads > 0 ? std::min(max_threads, pool_threads()) : pool_threads();
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(threads, (rows + per - 1) / per));
  if (tasks == 1) return block(0, rows);
  std::vector<FloatProblem> found(tasks);
  pool_run(tasks, [&](int64_t t) { found[t] = block(rows * t / tasks, rows * (t + 1) / tasks); });
  for (const FloatProblem& p : found)
    if (p.index >= 0) return p;
  return {};
}

}  // namespace

FloatProblem merge_lora_rows(const void* src, int src_type, void* dst, int dst_type, int64_t rows, int64_t cols,
                             int64_t row0, const float* a, const float* b, int64_t r, int64_t in_f, double scale,
                             bool transposed, int max_threads) {
  // s·B's entries, rounded to float once as the JS reference does (Math.fround(scale * b)).
  auto scaled = [&](int64_t o, int64_t k) { return static_cast<float>(scale * static_cast<double>(b[o * r + k])); };
  // basis [r, cols]: A itself (W [out, in]) or s·Bᵀ (Wᵀ stored [in, out]).
  std::vector<float> sbt;
  if (transposed) {
    sbt.resize(static_cast<size_t>(r * cols));
    for (int64_t k = 0; k < r; ++k)
      for (int64_t c = 0; c < cols; ++c) sbt[k * cols + c] = scaled(c, k);
  }
  const float* basis = transposed ? sbt.data() : a;
  const int64_t sb = stored_float_bytes(src_type), db = stored_float_bytes(dst_type);
  const auto* s8 = static_cast<const uint8_t*>(src);
  auto* d8 = static_cast<uint8_t*>(dst);
  return run_blocks(rows, cols, max_threads, [&](int64_t lo, int64_t hi) -> FloatProblem {
    std::vector<float> coef(static_cast<size_t>(r));
    std::vector<float> coefv(static_cast<size_t>(8 * r));
    for (int64_t row = lo; row < hi; ++row) {
      // coef [r]: s·B's row (W) or Aᵀ's row (Wᵀ) for this stored row.
      const int64_t g = row0 + row;
      for (int64_t k = 0; k < r; ++k) {
        coef[k] = transposed ? a[k * in_f + g] : scaled(g, k);
        std::fill_n(coefv.begin() + 8 * k, 8, coef[k]);
      }
      const uint8_t* from = s8 + row * cols * sb;
      const int64_t bad =
          merge_row_any(src_type, dst_type, from, d8 + row * cols * db, coef.data(), coefv.data(), basis, r, cols);
      if (bad >= 0) {
        // merge_row stops before writing the refused value's block: its source is still there.
        const float v = merged_value_any(src_type, from, coef.data(), basis, r, cols, bad);
        return {row * cols + bad, std::isfinite(v) ? FloatProblem::kOverflow : FloatProblem::kNonFinite};
      }
    }
    return {};
  });
}

FloatProblem convert_floats(const void* src, int src_type, void* dst, int dst_type, int64_t n, int max_threads) {
  const int64_t sb = stored_float_bytes(src_type), db = stored_float_bytes(dst_type);
  const auto* s8 = static_cast<const uint8_t*>(src);
  auto* d8 = static_cast<uint8_t*>(dst);
  // Split as rows of kGrain elements (the last one short).
  const int64_t rows = (n + kGrain - 1) / kGrain;
  return run_blocks(rows, kGrain, max_threads, [&](int64_t lo, int64_t hi) -> FloatProblem {
    const int64_t begin = lo * kGrain, end = std::min(n, hi * kGrain);
    const int64_t bad = convert_any(src_type, dst_type, s8 + begin * sb, d8 + begin * db, end - begin);
    if (bad >= 0) return {begin + bad, FloatProblem::kOverflow};
    return {};
  });
}

// Q8_0 (ggml-quants.c quantize_row_q8_0_ref as gguf-py computes it): per
// block of 32, d = max|x| / 127 in float32, stored as F16; q = x · (1/d)
// rounded half away from zero (np_roundf: floor(a) + floor(2·(a − floor(a)))).
// The same bits as the JS encoder (src/main/ml/gguf/quant.ts).
void quantize_q8_0(const float* x, uint8_t* out, int64_t blocks, int max_threads) {
  constexpr int64_t kQ = 32, kBytes = 34;
  const int64_t per_task = std::max<int64_t>(1, kGrain / kQ);
  run_blocks((blocks + per_task - 1) / per_task, per_task * kQ, max_threads, [&](int64_t lo, int64_t hi) -> FloatProblem {
    for (int64_t b = lo * per_task; b < std::min(blocks, hi * per_task); ++b) {
      const float* v = x + b * kQ;
      float amax = 0.0f;
      for (int64_t i = 0; i < kQ; ++i) {
        const float a = std::fabs(v[i]);
        amax = a > amax ? a : amax;
      }
      const float d = amax / 127.0f;
      const float id = d == 0.0f ? 0.0f : 1.0f / d;
      uint8_t* o = out + b * kBytes;
      store_u16(o, f32_to_f16(d));
      for (int64_t i = 0; i < kQ; ++i) {
        const float t = v[i] * id;
        const float a = std::fabs(t);
        const float fl = std::floor(a);
        const float r = fl + std::floor(2.0f * (a - fl));
        const int q = static_cast<int>(t < 0.0f ? -r : r);
        o[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
      }
    }
    return {};
  });
}

// ------------------------------------------------------------ N-API

namespace {

int stored_float_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool writable) {
  const std::string s = info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
  int t = s == "F32" ? kStoredF32 : s == "F16" ? kStoredF16 : s == "BF16" ? kStoredBF16 : s == "F64" && !writable ? kStoredF64 : -1;
  if (t < 0)
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be " +
                                               (writable ? "'F32', 'F16' or 'BF16'" : "'F32', 'F16', 'BF16' or 'F64'"));
  return t;
}

struct Bytes {
  uint8_t* data;
  int64_t length;
};

Bytes bytes_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a Uint8Array");
  auto ta = v.As<Napi::TypedArray>();
  return {static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), static_cast<int64_t>(ta.ByteLength())};
}

const float* floats_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* length) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a Float32Array");
  auto ta = v.As<Napi::TypedArray>();
  *length = static_cast<int64_t>(ta.ElementLength());
  return reinterpret_cast<const float*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

int64_t count_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)))
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' must be a non-negative integer");
  return static_cast<int64_t>(d);
}

// An optional thread limit: absent or 0 means all of the pool's threads.
int threads_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 0;
  return static_cast<int>(std::min<int64_t>(count_arg(info, i, "threads"), 1 << 16));
}

void need(const Napi::CallbackInfo& info, bool ok, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(info.Env(), what);
}

// In place is fine (same bytes, same type); any other overlap is not.
void check_overlap(const Napi::CallbackInfo& info, const Bytes& s, int st, const Bytes& d, int dt, const char* fn) {
  const bool overlap = s.data < d.data + d.length && d.data < s.data + s.length;
  need(info, !overlap || (s.data == d.data && st == dt), std::string(fn) + ": 'src' and 'dst' overlap other than in place");
}

Napi::Value problem_value(Napi::Env env, const FloatProblem& p) {
  if (p.index < 0) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Napi::Number::New(env, static_cast<double>(p.index)));
  o.Set("kind", p.kind == FloatProblem::kNonFinite ? "nonfinite" : "overflow");
  return o;
}

// mergeLoraRows(src, srcType, dst, dstType, rows, cols, rowStart, a, b, r, inF, outF, scale, transposed, threads?)
Napi::Value MergeLoraRows(const Napi::CallbackInfo& info) {
  Bytes src = bytes_arg(info, 0, "src");
  int st = stored_float_arg(info, 1, "srcType", false);
  Bytes dst = bytes_arg(info, 2, "dst");
  int dt = stored_float_arg(info, 3, "dstType", true);
  int64_t rows = count_arg(info, 4, "rows"), cols = count_arg(info, 5, "cols"), row0 = count_arg(info, 6, "rowStart");
  int64_t a_len = 0, b_len = 0;
  const float* a = floats_arg(info, 7, "a", &a_len);
  const float* b = floats_arg(info, 8, "b", &b_len);
  int64_t r = count_arg(info, 9, "r"), in_f = count_arg(info, 10, "inF"), out_f = count_arg(info, 11, "outF");
  if (!info[12].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument 'scale' must be a number");
  double scale = info[12].As<Napi::Number>().DoubleValue();
  bool transposed = info[13].ToBoolean();
  const int threads = threads_arg(info, 14);
  need(info, a_len == r * in_f && b_len == out_f * r, "mergeLoraRows: A must be [r, inF] and B [outF, r]");
  need(info, cols == (transposed ? out_f : in_f), "mergeLoraRows: cols must be inF (W [out, in]) or outF (transposed, [in, out])");
  need(info, row0 + rows <= (transposed ? in_f : out_f), "mergeLoraRows: rows run past the weight");
  need(info, src.length == rows * cols * stored_float_bytes(st) && dst.length == rows * cols * stored_float_bytes(dt),
       "mergeLoraRows: 'src' and 'dst' must hold rows * cols elements of their types");
  check_overlap(info, src, st, dst, dt, "mergeLoraRows");
  return problem_value(info.Env(),
                       merge_lora_rows(src.data, st, dst.data, dt, rows, cols, row0, a, b, r, in_f, scale, transposed, threads));
}

// convertFloats(src, srcType, dst, dstType, threads?)
Napi::Value ConvertFloats(const Napi::CallbackInfo& info) {
  Bytes src = bytes_arg(info, 0, "src");
  int st = stored_float_arg(info, 1, "srcType", false);
  Bytes dst = bytes_arg(info, 2, "dst");
  int dt = stored_float_arg(info, 3, "dstType", true);
  const int sb = stored_float_bytes(st), db = stored_float_bytes(dt);
  need(info, src.length % sb == 0 && dst.length / db == src.length / sb && dst.length % db == 0,
       "convertFloats: 'dst' must hold as many elements as 'src'");
  check_overlap(info, src, st, dst, dt, "convertFloats");
  return problem_value(info.Env(), convert_floats(src.data, st, dst.data, dt, src.length / sb, threads_arg(info, 4)));
}

// quantizeQ8_0(src: Float32Array, dst: Uint8Array, threads?)
Napi::Value QuantizeQ8_0(const Napi::CallbackInfo& info) {
  int64_t n = 0;
  const float* x = floats_arg(info, 0, "src", &n);
  Bytes dst = bytes_arg(info, 1, "dst");
  need(info, n % 32 == 0 && dst.length == n / 32 * 34, "quantizeQ8_0: 'src' must hold whole blocks of 32 values and 'dst' 34 bytes per block");
  quantize_q8_0(x, dst.data, n / 32, threads_arg(info, 2));
  return info.Env().Undefined();
}

}  // namespace

void register_merge(Napi::Env env, Napi::Object exports) {
  exports.Set("mergeLoraRows", Napi::Function::New(env, MergeLoraRows));
  exports.Set("convertFloats", Napi::Function::New(env, ConvertFloats));
  exports.Set("quantizeQ8_0", Napi::Function::New(env, QuantizeQ8_0));
}

}  // namespace lora
