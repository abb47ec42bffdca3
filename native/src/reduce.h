// Reductions, softmax and data movement (transpose, region copies).
#pragma once

#include <cstdint>
#include <vector>

namespace lora {

enum ReduceOp { kReduceSum = 0, kReduceMean = 1, kReduceMax = 2, kReduceMin = 3 };

// out = reduction of x (shape) over the axes flagged in `reduced`; out holds
// the kept axes in order.
void reduce(int op, const float* x, const std::vector<int64_t>& shape, const std::vector<bool>& reduced, float* out);

// Row-wise reductions of a [rows, cols] matrix (the building blocks).
void reduce_rows(int op, const float* x, int64_t rows, int64_t cols, float* out);
// out[o, j] = reduce_r x[o, r, j] for x [outer, r, inner].
void reduce_cols(int op, const float* x, int64_t outer, int64_t r, int64_t inner, float* out);

// Deterministic float sum of n contiguous values (fixed blocking, 16 lanes).
float sum_contiguous(const float* x, int64_t n);
float max_contiguous(const float* x, int64_t n);
// Deterministic dot product (same blocking as sum_contiguous).
float dot_contiguous(const float* a, const float* b, int64_t n);
// In-place softmax of one row.
void softmax_inplace(float* x, int64_t n);

// Softmax over the last axis of [rows, cols].
void softmax_rows(const float* x, int64_t rows, int64_t cols, float* out);
// Log-softmax over the last axis of [rows, cols].
void log_softmax_rows(const float* x, int64_t rows, int64_t cols, float* out);

// out = transpose(x, perm), x of `shape`, element size `bytes` (4 for
// float32/int32, 1 for bool).
void transpose(const void* x, const std::vector<int64_t>& shape, const std::vector<int64_t>& perm, void* out,
               int bytes);

// Copies the box `size` at `srcStart` of src (srcShape) to `dstStart` of dst
// (dstShape). All of rank r; element size `bytes`.
void copy_region(const void* src, const std::vector<int64_t>& srcShape, const std::vector<int64_t>& srcStart, void* dst,
                 const std::vector<int64_t>& dstShape, const std::vector<int64_t>& dstStart,
                 const std::vector<int64_t>& size, int bytes);

}  // namespace lora
