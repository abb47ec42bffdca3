// Fused transformer ops. Each forward writes what its backward needs (rstd,
// probabilities, logsumexp) so the backward is one pass. Work is split over
// rows (or attention heads) with fixed ranges; column sums (norm weight
// gradients) add per-block partials in block order, so results never depend on
// the thread count.
#include "fused.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm.h"
#include "pool.h"
#include "reduce.h"
#include "vmath.h"

namespace lora {
namespace {

constexpr int64_t kRowBlock = 64;  // rows per partial of a column sum
constexpr int64_t kGrain = 1 << 15;

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, d)); }

LORA_SIMD void scale_mul(const float* x, float r, const float* w, float* y, int64_t d) {
  for (int64_t j = 0; j < d; ++j) y[j] = (x[j] * r) * w[j];
}

// dx = r * g - x * c, g = dy * w.
LORA_SIMD void rms_dx(const float* dy, const float* x, const float* w, float r, float c, float* dx, int64_t d) {
  for (int64_t j = 0; j < d; ++j) dx[j] = r * (dy[j] * w[j]) - x[j] * c;
}

LORA_SIMD void mul3(const float* a, const float* b, float* out, int64_t d) {
  for (int64_t j = 0; j < d; ++j) out[j] = a[j] * b[j];
}

LORA_SIMD void axpy_rows(float* acc, const float* a, const float* b, float s, int64_t d) {
  // acc += a * b * s
  for (int64_t j = 0; j < d; ++j) acc[j] += (a[j] * b[j]) * s;
}

// Column sums of per-row contributions: blocks of kRowBlock rows each fill a
// partial [D] with add_row(partial, row); partials are then added in order.
template <typename RowFn, typename AddFn>
void rows_with_colsum(int64_t n, int64_t d, float* colsum, RowFn row_fn, AddFn add_row) {
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  std::vector<float> partial(colsum ? blocks * d : 0, 0.0f);
  pool_run(blocks, [&](int64_t blk) {
    float* p = colsum ? partial.data() + blk * d : nullptr;
    for (int64_t i = blk * kRowBlock; i < std::min(n, (blk + 1) * kRowBlock); ++i) {
      row_fn(i);
      if (p) add_row(p, i);
    }
  });
  if (!colsum) return;
  std::fill(colsum, colsum + d, 0.0f);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int64_t j = 0; j < d; ++j) colsum[j] += partial[blk * d + j];
}

}  // namespace

// ---------------------------------------------------------------- RMSNorm

void rmsnorm_fwd(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd) {
  parallel_for(n, row_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* xr = x + i * d;
      float ms = dot_contiguous(xr, xr, d) / static_cast<float>(d);
      float r = 1.0f / std::sqrt(ms + eps);
      rstd[i] = r;
      scale_mul(xr, r, w, y + i * d, d);
    }
  });
}

void rmsnorm_bwd(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d, float* dx,
                 float* dw) {
  // y = x r w, r = (mean(x^2) + eps)^-1/2:
  // dx = r g - x r^3 / D * sum(g x), g = dy w;  dw = sum_rows dy x r.
  rows_with_colsum(
      n, d, dw,
      [&](int64_t i) {
        const float* dyr = dy + i * d;
        const float* xr = x + i * d;
        const float r = rstd[i];
        // sum(g x) = sum(dy * (w x)): one dot over a temporary product.
        thread_local std::vector<float> wx;
        wx.resize(d);
        mul3(w, xr, wx.data(), d);
        float c = dot_contiguous(dyr, wx.data(), d) * r * r * r / static_cast<float>(d);
        rms_dx(dyr, xr, w, r, c, dx + i * d, d);
      },
      [&](float* p, int64_t i) { axpy_rows(p, dy + i * d, x + i * d, rstd[i], d); });
}

// -------------------------------------------------------------- LayerNorm

namespace {
LORA_SIMD void ln_apply(const float* x, float mean, float r, const float* w, const float* b, float* y, int64_t d) {
  for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - mean) * r * w[j] + b[j];
}
LORA_SIMD void sub_scalar_sq(const float* x, float m, float* out, int64_t d) {
  for (int64_t j = 0; j < d; ++j) {
    float c = x[j] - m;
    out[j] = c * c;
  }
}
LORA_SIMD void ln_prep(const float* dy, const float* x, const float* w, float mean, float r, float* g, float* gx,
                       int64_t d) {
  for (int64_t j = 0; j < d; ++j) {
    g[j] = dy[j] * w[j];
    gx[j] = g[j] * ((x[j] - mean) * r);
  }
}
LORA_SIMD void ln_dx(const float* g, const float* x, float mean, float r, float mg, float mgx, float* dx, int64_t d) {
  for (int64_t j = 0; j < d; ++j) dx[j] = r * (g[j] - mg - ((x[j] - mean) * r) * mgx);
}
LORA_SIMD void ln_dw(float* p, const float* dy, const float* x, float mean, float r, int64_t d) {
  for (int64_t j = 0; j < d; ++j) p[j] += dy[j] * ((x[j] - mean) * r);
}
LORA_SIMD void add_into(float* p, const float* a, int64_t d) {
  for (int64_t j = 0; j < d; ++j) p[j] += a[j];
}
}  // namespace

void layernorm_fwd(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                   float* mean, float* rstd) {
  parallel_for(n, row_grain(d), [&](int64_t lo, int64_t hi) {
    std::vector<float> sq(d);
    for (int64_t i = lo; i < hi; ++i) {
      const float* xr = x + i * d;
      float m = sum_contiguous(xr, d) / static_cast<float>(d);
      sub_scalar_sq(xr, m, sq.data(), d);
      float var = sum_contiguous(sq.data(), d) / static_cast<float>(d);
      float r = 1.0f / std::sqrt(var + eps);
      mean[i] = m;
      rstd[i] = r;
      ln_apply(xr, m, r, w, b, y + i * d, d);
    }
  });
}

void layernorm_bwd(const float* dy, const float* x, const float* w, const float* mean, const float* rstd, int64_t n,
                   int64_t d, float* dx, float* dw, float* db) {
  // xhat = (x - mean) r, g = dy w: dx = r (g - mean(g) - xhat mean(g xhat)).
  rows_with_colsum(
      n, d, dw,
      [&](int64_t i) {
        thread_local std::vector<float> g, gx;
        g.resize(d);
        gx.resize(d);
        const float* xr = x + i * d;
        ln_prep(dy + i * d, xr, w, mean[i], rstd[i], g.data(), gx.data(), d);
        float mg = sum_contiguous(g.data(), d) / static_cast<float>(d);
        float mgx = sum_contiguous(gx.data(), d) / static_cast<float>(d);
        ln_dx(g.data(), xr, mean[i], rstd[i], mg, mgx, dx + i * d, d);
      },
      [&](float* p, int64_t i) { ln_dw(p, dy + i * d, x + i * d, mean[i], rstd[i], d); });
  if (db) rows_with_colsum(n, d, db, [](int64_t) {}, [&](float* p, int64_t i) { add_into(p, dy + i * d, d); });
}

// ------------------------------------------------------------------- RoPE

namespace {
// y = x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1].
LORA_SIMD void rope_row(const float* x, const float* c, const float* s, float* y, int64_t half) {
  for (int64_t j = 0; j < half; ++j) y[j] = x[j] * c[j] + (-x[j + half]) * s[j];
  for (int64_t j = 0; j < half; ++j) y[j + half] = x[j + half] * c[j + half] + x[j] * s[j + half];
}
// The transpose: dx = dy cos + [dy2 s2, -dy1 s1].
LORA_SIMD void rope_row_bwd(const float* dy, const float* c, const float* s, float* dx, int64_t half) {
  for (int64_t j = 0; j < half; ++j) dx[j] = dy[j] * c[j] + dy[j + half] * s[j + half];
  for (int64_t j = 0; j < half; ++j) dx[j + half] = dy[j + half] * c[j + half] - dy[j] * s[j];
}
}  // namespace

void rope_fwd(const float* x, const float* cos, const float* sin, int64_t b, int64_t h, int64_t t, int64_t hd,
              int64_t cb, float* y) {
  const int64_t rows = b * h * t, half = hd / 2;
  parallel_for(rows, row_grain(hd), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t bi = r / (h * t), ti = r % t;
      int64_t coff = ((cb == 1 ? 0 : bi) * t + ti) * hd;
      rope_row(x + r * hd, cos + coff, sin + coff, y + r * hd, half);
    }
  });
}

void rope_bwd(const float* dy, const float* cos, const float* sin, int64_t b, int64_t h, int64_t t, int64_t hd,
              int64_t cb, float* dx) {
  const int64_t rows = b * h * t, half = hd / 2;
  parallel_for(rows, row_grain(hd), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t bi = r / (h * t), ti = r % t;
      int64_t coff = ((cb == 1 ? 0 : bi) * t + ti) * hd;
      rope_row_bwd(dy + r * hd, cos + coff, sin + coff, dx + r * hd, half);
    }
  });
}

// -------------------------------------------------------------- Attention

namespace {
// (q k^T) * scale, then + mask: the composite's rounding order.
LORA_SIMD void scale_add_row(float* x, float scale, const float* m, int64_t n) {
  if (m)
    for (int64_t j = 0; j < n; ++j) x[j] = x[j] * scale + m[j];
  else
    for (int64_t j = 0; j < n; ++j) x[j] = x[j] * scale;
}
// dS = P (dP - sum(dP P)), in place over dP.
LORA_SIMD void softmax_grad_row(const float* p, float* dp, float dot, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - dot);
}
}  // namespace

namespace {
constexpr int64_t kAttnRows = 64;  // query rows per block when skipping masked keys

// For each block of kAttnRows rows of P [T, Tk], the column count holding all
// of the block's nonzeros. Entries masked out are exactly 0 after the softmax
// (exp underflows), so products with them add exactly nothing and are skipped:
// a causal mask needs ~5/8 of the work. Returns false when no block is short
// (then the full products run as single GEMMs).
bool key_extents(const float* p, int64_t t, int64_t tk, std::vector<int64_t>* ext) {
  const int64_t blocks = (t + kAttnRows - 1) / kAttnRows;
  ext->assign(blocks, 0);
  bool any_short = false;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    int64_t end = 0;
    for (int64_t r = blk * kAttnRows; r < std::min(t, (blk + 1) * kAttnRows); ++r) {
      int64_t j = tk;
      while (j > end && p[r * tk + j - 1] == 0.0f) --j;
      end = std::max(end, j);
    }
    (*ext)[blk] = end;
    any_short |= end < tk;
  }
  return any_short;
}
}  // namespace

void attention_fwd(const float* q, const float* k, const float* v, const float* mask, int64_t b, int64_t nh,
                   int64_t nkv, int64_t t, int64_t tk, int64_t hd, int64_t mb, float scale, float* out, float* probs) {
  const int64_t groups = nh / nkv;
  blas_tasks(b * nh, [&](int64_t task) {
    const int64_t bi = task / nh, hi = task % nh, kv = bi * nkv + hi / groups;
    const float* qh = q + task * t * hd;
    const float* kh = k + kv * tk * hd;
    const float* vh = v + kv * tk * hd;
    float* p = probs + task * t * tk;
    float* oh = out + task * t * hd;
    sgemm_rm(false, true, t, tk, hd, 1.0f, qh, hd, kh, hd, 0.0f, p, tk);  // [T, Tk] = q k^T
    const float* m = mask ? mask + (mb == 1 ? 0 : bi) * t * tk : nullptr;
    for (int64_t r = 0; r < t; ++r) {
      float* row = p + r * tk;
      scale_add_row(row, scale, m ? m + r * tk : nullptr, tk);
      softmax_inplace(row, tk);
    }
    std::vector<int64_t> ext;
    if (!key_extents(p, t, tk, &ext)) {
      sgemm_rm(false, false, t, hd, tk, 1.0f, p, tk, vh, hd, 0.0f, oh, hd);  // [T, hd] = P v
      return;
    }
    for (size_t blk = 0; blk < ext.size(); ++blk) {
      const int64_t r0 = blk * kAttnRows, rows = std::min(kAttnRows, t - r0);
      sgemm_rm(false, false, rows, hd, ext[blk], 1.0f, p + r0 * tk, tk, vh, hd, 0.0f, oh + r0 * hd, hd);
    }
  });
}

void attention_bwd(const float* dout, const float* q, const float* k, const float* v, const float* probs, int64_t b,
                   int64_t nh, int64_t nkv, int64_t t, int64_t tk, int64_t hd, float scale, float* dq, float* dk,
                   float* dv) {
  // One task per (batch, kv head): its query heads in order, so dk and dv
  // accumulate the group's contributions in a fixed order.
  const int64_t groups = nh / nkv;
  blas_tasks(b * nkv, [&](int64_t task) {
    const int64_t bi = task / nkv, kv = task % nkv;
    const float* kh = k + task * tk * hd;
    const float* vh = v + task * tk * hd;
    float* dkh = dk + task * tk * hd;
    float* dvh = dv + task * tk * hd;
    std::fill(dkh, dkh + tk * hd, 0.0f);
    std::fill(dvh, dvh + tk * hd, 0.0f);
    std::vector<float> ds(t * tk);
    std::vector<int64_t> ext;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t head = bi * nh + kv * groups + g;
      const float* p = probs + head * t * tk;
      const float* doh = dout + head * t * hd;
      const float* qh = q + head * t * hd;
      float* dqh = dq + head * t * hd;
      // Row blocks with their key extents (one block of all rows when nothing is masked).
      if (!key_extents(p, t, tk, &ext)) ext.assign(1, tk);
      const int64_t block_rows = ext.size() == 1 ? t : kAttnRows;
      for (size_t blk = 0; blk < ext.size(); ++blk) {
        const int64_t r0 = blk * block_rows, rows = std::min(block_rows, t - r0), e = ext[blk];
        float* dsb = ds.data() + r0 * tk;
        const float* pb = p + r0 * tk;
        sgemm_rm(false, true, rows, e, hd, 1.0f, doh + r0 * hd, hd, vh, hd, 0.0f, dsb, tk);  // dP = dO v^T
        for (int64_t r = 0; r < rows; ++r) {
          float* row = dsb + r * tk;
          softmax_grad_row(pb + r * tk, row, dot_contiguous(row, pb + r * tk, e), e);
        }
        sgemm_rm(false, false, rows, hd, e, scale, dsb, tk, kh, hd, 0.0f, dqh + r0 * hd, hd);  // dq = s dS k
        sgemm_rm(true, false, e, hd, rows, scale, dsb, tk, qh + r0 * hd, hd, 1.0f, dkh, hd);   // dk += s dS^T q
        sgemm_rm(true, false, e, hd, rows, 1.0f, pb, tk, doh + r0 * hd, hd, 1.0f, dvh, hd);    // dv += P^T dO
      }
    }
  });
}

// ----------------------------------------------------------- SwiGLU, GELU

namespace {
LORA_SIMD void swiglu_run(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = (g[i] * vsigmoid(g[i])) * u[i];
}
LORA_SIMD void swiglu_bwd_run(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float s = vsigmoid(g[i]);
    float silu = g[i] * s;
    du[i] = dy[i] * silu;
    dg[i] = dy[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
  }
}
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
LORA_SIMD void gelu_run(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    float t = vtanh(kGeluC * (v + 0.044715f * (v * v * v)));
    y[i] = (0.5f * v) * (1.0f + t);
  }
}
LORA_SIMD void gelu_bwd_run(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    float t = vtanh(kGeluC * (v + 0.044715f * (v * v * v)));
    float dinner = kGeluC * (1.0f + 3.0f * 0.044715f * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dinner);
  }
}
}  // namespace

void swiglu_fwd(const float* g, const float* u, int64_t n, float* y) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { swiglu_run(g + lo, u + lo, y + lo, hi - lo); });
}

void swiglu_bwd(const float* dy, const float* g, const float* u, int64_t n, float* dg, float* du) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { swiglu_bwd_run(dy + lo, g + lo, u + lo, dg + lo, du + lo, hi - lo); });
}

void gelu_fwd(const float* x, int64_t n, float* y) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { gelu_run(x + lo, y + lo, hi - lo); });
}

void gelu_bwd(const float* dy, const float* x, int64_t n, float* dx) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { gelu_bwd_run(dy + lo, x + lo, dx + lo, hi - lo); });
}

// ---------------------------------------------------------- Cross-entropy

namespace {
LORA_SIMD void exp_minus(const float* x, float m, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = vexp(x[j] - m);
}
LORA_SIMD void exp_sub_scaled(const float* x, float lse, float f, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = f * vexp(x[j] - lse);
}
}  // namespace

bool xent_fwd(const float* logits, const int32_t* targets, const float* weights, int64_t n, int64_t v, float* lse,
              double* loss, int64_t* bad_row) {
  for (int64_t i = 0; i < n; ++i) {
    if (weights[i] != 0.0f && (targets[i] < 0 || targets[i] >= v)) {
      *bad_row = i;
      return false;
    }
  }
  parallel_for(n, row_grain(v), [&](int64_t lo, int64_t hi) {
    std::vector<float> e(v);
    for (int64_t i = lo; i < hi; ++i) {
      const float* x = logits + i * v;
      float m = max_contiguous(x, v);
      exp_minus(x, m, e.data(), v);
      lse[i] = m + std::log(sum_contiguous(e.data(), v));
    }
  });
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (weights[i] == 0.0f) continue;
    total += static_cast<double>(weights[i]) * (static_cast<double>(lse[i]) - logits[i * v + targets[i]]);
  }
  *loss = total;
  return true;
}

void xent_bwd(float dy, const float* logits, const int32_t* targets, const float* weights, const float* lse, int64_t n,
              int64_t v, float* dlogits) {
  parallel_for(n, row_grain(v), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float* out = dlogits + i * v;
      const float f = dy * weights[i];
      if (f == 0.0f) {
        std::fill(out, out + v, 0.0f);
        continue;
      }
      exp_sub_scaled(logits + i * v, lse[i], f, out, v);
      out[targets[i]] -= f;
    }
  });
}

}  // namespace lora

// ------------------------------------------------------------ LoRA linear

namespace lora {
namespace {
// C = alpha op(A) op(B) + beta C for one product, split over the pool by gemm().
void mm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b, float beta,
        float* c) {
  GemmArgs g;
  g.a = a;
  g.b = b;
  g.c = c;
  g.batch = 1;
  g.m = m;
  g.n = n;
  g.k = k;
  g.transA = ta;
  g.transB = tb;
  g.aStride = 0;
  g.bStride = 0;
  g.alpha = alpha;
  g.beta = beta;
  gemm(g);
}
}  // namespace

void lora_linear_fwd(const float* x, const float* xl, const float* w, const float* bias, const float* a,
                     const float* b, int64_t n, int64_t in, int64_t out, int64_t r, float scale, float* y, float* h) {
  if (bias) {
    parallel_for(n, row_grain(out), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) std::copy(bias, bias + out, y + i * out);
    });
  }
  mm(false, true, n, out, in, 1.0f, x, w, bias ? 1.0f : 0.0f, y);     // y (+)= x W^T
  mm(false, true, n, r, in, 1.0f, xl ? xl : x, a, 0.0f, h);           // h = xl A^T
  mm(false, true, n, out, r, scale, h, b, 1.0f, y);                   // y += s h B^T
}

void lora_linear_bwd(const float* dy, const float* x, const float* xl, const float* w, const float* a, const float* b,
                     const float* h, int64_t n, int64_t in, int64_t out, int64_t r, float scale, float* dx, float* dxl,
                     float* da, float* db) {
  std::vector<float> g(n * r);
  mm(false, false, n, r, out, scale, dy, b, 0.0f, g.data());          // g = s dy B         [N, r]
  mm(false, false, n, in, out, 1.0f, dy, w, 0.0f, dx);                // dx = dy W          [N, in]
  if (xl) mm(false, false, n, in, r, 1.0f, g.data(), a, 0.0f, dxl);   // dxl = g A
  else mm(false, false, n, in, r, 1.0f, g.data(), a, 1.0f, dx);       // dx += g A
  mm(true, false, r, in, n, 1.0f, g.data(), xl ? xl : x, 0.0f, da);   // dA = g^T xl        [r, in]
  mm(true, false, out, r, n, scale, dy, h, 0.0f, db);                 // dB = s dy^T h      [out, r]
}

}  // namespace lora
