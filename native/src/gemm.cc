// Batched, strided, broadcasting GEMM over cblas_sgemm.
//
// In "pool" mode BLAS runs single-threaded and the pool splits the work:
// a batch of small products goes one product per task; a single large product
// is cut along its larger output dimension into one slab per thread. Each
// output element is computed by exactly one sgemm call whose K loop is never
// split, so results are independent of the thread count's timing.
#include "gemm.h"

#include <algorithm>
#include <string>

#include "blas.h"
#include "pool.h"

namespace lora {
namespace {

bool g_pool_mode = true;

inline void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

// One product, rows [m0, m1) and columns [n0, n1) of C.
void gemm_block(const GemmArgs& g, const float* a, const float* b, float* c, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1) {
  const int64_t lda = g.transA ? g.m : g.k;  // A stored [K, M] or [M, K]
  const int64_t ldb = g.transB ? g.k : g.n;  // B stored [N, K] or [K, N]
  const float* as = g.transA ? a + m0 : a + m0 * lda;
  const float* bs = g.transB ? b + n0 * ldb : b + n0;
  sgemm(g.transA, g.transB, m1 - m0, n1 - n0, g.k, g.alpha, as, lda, bs, ldb, g.beta, c + m0 * g.n + n0, g.n);
}

void zero_or_scale(const GemmArgs& g) {
  // K == 0: C = beta * C; BLAS implementations differ on this edge.
  const int64_t total = g.batch * g.m * g.n;
  for (int64_t i = 0; i < total; ++i) g.c[i] = g.beta == 0.0f ? 0.0f : g.beta * g.c[i];
}

}  // namespace

void sgemm_rm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C, without trusting BLAS on this edge
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void blas_tasks(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (g_pool_mode) return pool_run(tasks, fn);
  for (int64_t t = 0; t < tasks; ++t) fn(t);
}

void gemm_set_mode(const std::string& mode) {
  g_pool_mode = mode != "blas";
  gemm_sync_threads();
}

std::string gemm_mode() { return g_pool_mode ? "pool" : "blas"; }

void gemm_sync_threads() {
#if defined(LORA_BLAS_ACCELERATE)
  // Accelerate sizes its own threading; "pool" mode relies on BLAS calls from
  // pool tasks staying on their thread, which Accelerate does for small GEMMs.
#else
  if (openblas_set_num_threads) openblas_set_num_threads(g_pool_mode ? 1 : pool_threads());
#endif
}

std::string blas_info() {
#if defined(LORA_BLAS_ACCELERATE)
  return "Accelerate";
#else
  std::string s = "CBLAS";
  if (openblas_get_config) s = openblas_get_config();
  if (openblas_get_corename) s += std::string(" core=") + openblas_get_corename();
  return s;
#endif
}

void gemm(const GemmArgs& g) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  if (g.k == 0) return zero_or_scale(g);
  auto a_of = [&](int64_t i) { return g.a + (g.aOffsets ? g.aOffsets[i] : i * g.aStride); };
  auto b_of = [&](int64_t i) { return g.b + (g.bOffsets ? g.bOffsets[i] : i * g.bStride); };
  const int threads = pool_threads();
  const double flops = 2.0 * g.m * g.n * g.k;

  if (!g_pool_mode || threads == 1 || flops * g.batch < 4e6) {
    for (int64_t i = 0; i < g.batch; ++i) gemm_block(g, a_of(i), b_of(i), g.c + i * g.m * g.n, 0, g.m, 0, g.n);
    return;
  }
  if (g.batch >= 2 * threads || (g.batch >= threads && flops < 5e7)) {
    // Many products: whole products per task, contiguous runs per thread.
    parallel_for(g.batch, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) gemm_block(g, a_of(i), b_of(i), g.c + i * g.m * g.n, 0, g.m, 0, g.n);
    });
    return;
  }
  // Few large products: cut each along its larger output dimension into slabs
  // whose edges fall on multiples of 16 (BLAS micro-kernel widths).
  const bool split_m = g.m >= g.n;
  const int64_t extent = split_m ? g.m : g.n;
  const int64_t units = (extent + 15) / 16;
  const int64_t slabs = std::min<int64_t>(threads, units);
  for (int64_t i = 0; i < g.batch; ++i) {
    const float* a = a_of(i);
    const float* b = b_of(i);
    float* c = g.c + i * g.m * g.n;
    pool_run(slabs, [&](int64_t s) {
      int64_t lo = std::min(extent, units * s / slabs * 16), hi = std::min(extent, units * (s + 1) / slabs * 16);
      if (lo >= hi) return;
      if (split_m) gemm_block(g, a, b, c, lo, hi, 0, g.n);
      else gemm_block(g, a, b, c, 0, g.m, lo, hi);
    });
  }
}

}  // namespace lora
