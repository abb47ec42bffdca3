// Data movement: N-d transpose and box copies (slice, pad, concat).
#include <algorithm>
#include <cstring>

#include "pool.h"
#include "reduce.h"

namespace lora {
namespace {

constexpr int64_t kTile = 32;

template <typename T>
void transpose_2d_tile(const T* src, int64_t src_row_stride, T* dst, int64_t dst_row_stride, int64_t rows,
                       int64_t cols) {
  // dst[j, i] = src[i, j] for a rows x cols tile.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * dst_row_stride + i] = src[i * src_row_stride + j];
}

template <typename T>
void transpose_typed(const T* x, const std::vector<int64_t>& shape, const std::vector<int64_t>& perm, T* out) {
  const size_t r0 = shape.size();
  int64_t total = 1;
  for (int64_t d : shape) total *= d;
  if (total == 0) return;
  // Input strides, then output dims with their input strides; size-1 dims
  // dropped and output-adjacent dims that are input-adjacent merged.
  std::vector<int64_t> in_stride(r0);
  for (int64_t s = 1, i = r0; i-- > 0;) { in_stride[i] = s; s *= shape[i]; }
  std::vector<int64_t> dims, strides;
  for (size_t k = 0; k < r0; ++k) {
    int64_t d = shape[perm[k]], s = in_stride[perm[k]];
    if (d == 1) continue;
    if (!dims.empty() && strides.back() == s * d) {
      dims.back() *= d;
      strides.back() = s;
    } else {
      dims.push_back(d);
      strides.push_back(s);
    }
  }
  const size_t r = dims.size();
  if (r <= 1) {
    std::memcpy(out, x, total * sizeof(T));
    return;
  }
  if (strides.back() == 1) {
    // The innermost run is contiguous in the input: copy runs.
    const int64_t inner = dims.back(), rows = total / inner;
    parallel_for(rows, std::max<int64_t>(1, (1 << 15) / inner), [&](int64_t lo, int64_t hi) {
      for (int64_t row = lo; row < hi; ++row) {
        int64_t rem = row, off = 0;
        for (size_t d = r - 1; d-- > 0;) {
          off += (rem % dims[d]) * strides[d];
          rem /= dims[d];
        }
        std::memcpy(out + row * inner, x + off, inner * sizeof(T));
      }
    });
    return;
  }
  // Otherwise tile the output's last axis against the output axis `j` that
  // walks the input contiguously (input stride 1).
  size_t j = 0;
  for (size_t k = 0; k < r; ++k) if (strides[k] == 1) j = k;
  std::vector<int64_t> out_stride(r);
  for (int64_t s = 1, k = r; k-- > 0;) { out_stride[k] = s; s *= dims[k]; }
  const int64_t nj = dims[j], nl = dims[r - 1];
  const int64_t tj = (nj + kTile - 1) / kTile, tl = (nl + kTile - 1) / kTile;
  const int64_t others = total / (nj * nl);
  pool_run(std::min<int64_t>(others * tj, std::max<int64_t>(1, pool_threads())), [&](int64_t task) {
    const int64_t tasks = std::min<int64_t>(others * tj, std::max<int64_t>(1, pool_threads()));
    const int64_t lo = others * tj * task / tasks, hi = others * tj * (task + 1) / tasks;
    for (int64_t u = lo; u < hi; ++u) {
      int64_t o = u / tj, bj = u % tj;
      int64_t rem = o, in_off = 0, out_off = 0;
      for (size_t d = r; d-- > 0;) {
        if (d == j || d == r - 1) continue;
        int64_t i = rem % dims[d];
        rem /= dims[d];
        in_off += i * strides[d];
        out_off += i * out_stride[d];
      }
      int64_t j0 = bj * kTile, jn = std::min(kTile, nj - j0);
      for (int64_t bl = 0; bl < tl; ++bl) {
        int64_t l0 = bl * kTile, ln = std::min(kTile, nl - l0);
        // Tile: input rows walk axis r-1 (stride strides[r-1]), columns axis j.
        transpose_2d_tile(x + in_off + l0 * strides[r - 1] + j0, strides[r - 1],
                          out + out_off + j0 * out_stride[j] + l0, out_stride[j], ln, jn);
      }
    }
  });
}

}  // namespace

void transpose(const void* x, const std::vector<int64_t>& shape, const std::vector<int64_t>& perm, void* out,
               int bytes) {
  if (bytes == 4) transpose_typed(static_cast<const int32_t*>(x), shape, perm, static_cast<int32_t*>(out));
  else transpose_typed(static_cast<const uint8_t*>(x), shape, perm, static_cast<uint8_t*>(out));
}

void copy_region(const void* src, const std::vector<int64_t>& srcShape, const std::vector<int64_t>& srcStart, void* dst,
                 const std::vector<int64_t>& dstShape, const std::vector<int64_t>& dstStart,
                 const std::vector<int64_t>& size, int bytes) {
  const size_t r = size.size();
  int64_t total = 1;
  for (int64_t d : size) total *= d;
  if (total == 0) return;
  std::vector<int64_t> ss(r), ds(r);
  for (int64_t s = 1, i = r; i-- > 0;) { ss[i] = s; s *= srcShape[i]; }
  for (int64_t s = 1, i = r; i-- > 0;) { ds[i] = s; s *= dstShape[i]; }
  int64_t soff = 0, doff = 0;
  for (size_t i = 0; i < r; ++i) {
    soff += srcStart[i] * ss[i];
    doff += dstStart[i] * ds[i];
  }
  // Merge inner axes that are whole in both src and dst into one run.
  int64_t run = 1;
  size_t k = r;
  while (k > 0) {
    run *= size[k - 1];
    --k;
    if (k == 0 || size[k] != srcShape[k] || size[k] != dstShape[k]) break;
  }
  // Axes [0, k) iterate; the run covers axes [k, r).
  const int64_t rows = total / run;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  parallel_for(rows, std::max<int64_t>(1, (1 << 16) / run), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t rem = row, so = soff, dof = doff;
      for (size_t a = k; a-- > 0;) {
        int64_t i = rem % size[a];
        rem /= size[a];
        so += i * ss[a];
        dof += i * ds[a];
      }
      std::memcpy(d + dof * bytes, s + so * bytes, run * bytes);
    }
  });
}

}  // namespace lora
