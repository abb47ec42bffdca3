#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace lora {

// C[i] = alpha * op(A[i]) x op(B[i]) + beta * C[i] for i in [0, batch), with
// op(A[i]) [M, K], op(B[i]) [K, N] and C[i] [M, N] row-major, C contiguous.
// A[i] starts at a + aOffsets[i] (or a + i * aStride when aOffsets is null),
// likewise B; a stride of 0 broadcasts one matrix over the batch.
struct GemmArgs {
  const float* a;
  const float* b;
  float* c;
  int64_t batch, m, n, k;
  bool transA, transB;
  int64_t aStride, bStride;
  const int64_t* aOffsets = nullptr;
  const int64_t* bOffsets = nullptr;
  float alpha = 1.0f, beta = 0.0f;
};

void gemm(const GemmArgs& g);

// One row-major sgemm call as it is (no splitting): for kernels that already
// run one task per thread.
void sgemm_rm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Runs fn(task) for task in [0, tasks): on the pool when BLAS is
// single-threaded ("pool" mode), in order on this thread otherwise, so that
// BLAS calls inside tasks never nest two thread pools.
void blas_tasks(int64_t tasks, const std::function<void(int64_t)>& fn);

// "pool": BLAS runs single-threaded and the addon's pool splits each product
// (default). "blas": BLAS's own threads do (for comparison).
void gemm_set_mode(const std::string& mode);
std::string gemm_mode();
std::string blas_info();
// Keeps BLAS's own thread count in line with the mode and the pool size.
void gemm_sync_threads();

}  // namespace lora
