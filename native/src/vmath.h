// Float math written so that GCC/Clang vectorise the loops that call it:
// branch-free, no libm calls. Polynomials are Cephes' single-precision ones
// (max error ~2 ulp); special values (NaN, ±Inf, 0, underflow) behave like
// the libm functions. LORA_SIMD marks loop functions compiled twice: for
// AVX2+FMA CPUs and for baseline x86-64, picked at load time (ifunc).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define LORA_SIMD __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LORA_SIMD
#endif

#if defined(__GNUC__)
#define LORA_INLINE inline __attribute__((always_inline))
#else
#define LORA_INLINE inline
#endif

namespace lora {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}

inline int32_t float_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, 4);
  return i;
}

LORA_INLINE float vexp(float x) {
  const float hi = 88.72283905206835f, lo = -103.97207708f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (round-to-nearest mode).
  float t = xc * 1.44269504088896341f;
  float n = (t + 12582912.0f) - 12582912.0f;
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * z + r + 1.0f;
  // 2^n as two factors so neither overflows nor goes subnormal by itself.
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1, n2 = ni - n1;
  y = y * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
  y = x > hi ? std::numeric_limits<float>::infinity() : y;
  y = x < lo ? 0.0f : y;
  return y;  // NaN in, NaN out: every comparison above is false for NaN.
}

LORA_INLINE float vlog(float x) {
  // Subnormal inputs are scaled into the normal range first.
  bool sub = x < 1.17549435e-38f;
  float xs = sub ? x * 8388608.0f : x;
  int32_t bits = float_to_bits(xs);
  float e = static_cast<float>(((bits >> 23) & 0xff) - 126) - (sub ? 23.0f : 0.0f);
  float m = bits_to_float((bits & 0x007fffff) | 0x3f000000);  // [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1.0f : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float out = m + y + e * 0.693359375f;
  const float inf = std::numeric_limits<float>::infinity();
  out = x == inf ? inf : out;
  out = x == 0.0f ? -inf : out;
  out = (x < 0.0f || x != x) ? std::numeric_limits<float>::quiet_NaN() : out;
  return out;
}

LORA_INLINE float vtanh(float x) {
  float ax = x < 0.0f ? -x : x;
  float z = vexp(2.0f * ax);
  float big = 1.0f - 2.0f / (z + 1.0f);
  big = x < 0.0f ? -big : big;
  float x2 = x * x;
  float p = -5.70498872745e-3f;
  p = p * x2 + 2.06390887954e-2f;
  p = p * x2 - 5.37397155531e-2f;
  p = p * x2 + 1.33314422036e-1f;
  p = p * x2 - 3.33332819422e-1f;
  float smallv = p * x2 * x + x;
  return ax > 0.625f ? big : smallv;
}

LORA_INLINE float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

}  // namespace lora
