// Merging a LoRA adapter into stored weights, and converting stored floats,
// for the merged-model export (src/main/export/merge-kernels.ts). They read
// and write the bytes as safetensors stores them (F32, F16, BF16; F64 read
// only), so a tensor goes from the base file to the export without a JS pass
// over its elements.
//
// Results equal the JS reference bit for bit (src/main/export/merge-kernels.ts):
// float32 arithmetic, each product and sum rounded (no FMA), the delta summed
// over k in order and added to the weight; 16-bit outputs round to nearest,
// ties to even, as src/main/ml/dtypes.ts does.
#pragma once

#include <napi.h>

#include <cstdint>

namespace lora {

enum StoredFloat : int { kStoredF32 = 0, kStoredF16 = 1, kStoredBF16 = 2, kStoredF64 = 3 };
int stored_float_bytes(int type);

// The first element (in storage order) that a merge or conversion could not
// store faithfully; index < 0 when there is none.
struct FloatProblem {
  int64_t index = -1;
  enum Kind { kNone = 0, kNonFinite = 1, kOverflow = 2 } kind = kNone;
};

// One LoRA delta over a block of stored rows:
//   W [out, in]          (transposed = false):  W'[o, i] = W[o, i] + Σ_k s·B[o, k]·A[k, i]
//   Wᵀ stored [in, out]  (transposed = true, GPT-2 Conv1D): W'[i, o] likewise
// src holds stored rows [row0, row0 + rows) of `cols` elements each in
// src_type; dst receives them in dst_type (F32/F16/BF16). src == dst is
// allowed when the types are equal. A [r, in_f], B [out_f, r] float32 (out_f
// is cols when transposed; the N-API layer checks the sizes).
// Problems: kNonFinite where the float result is NaN/Inf, kOverflow where a
// finite result does not fit dst_type (F16: |v| > 65504; BF16: rounds to Inf).
// After a problem the rest of dst is unspecified (the export stops there).
// Runs on at most max_threads of the pool's threads (0: all of them).
FloatProblem merge_lora_rows(const void* src, int src_type, void* dst, int dst_type, int64_t rows, int64_t cols,
                             int64_t row0, const float* a, const float* b, int64_t r, int64_t in_f, double scale,
                             bool transposed, int max_threads);

// dst[i] = src[i] converted (n elements). Problems: kOverflow where dst is
// F16 and |v| > 65504 (Inf included, NaN not), or dst is BF16 and a finite v
// rounds to Inf.
FloatProblem convert_floats(const void* src, int src_type, void* dst, int dst_type, int64_t n, int max_threads);

// GGUF's Q8_0 of `blocks` blocks of 32 floats (34 bytes each: F16 scale, 32
// int8), as ggml's reference quantizer and gguf-py compute it.
void quantize_q8_0(const float* x, uint8_t* out, int64_t blocks, int max_threads);

// Adds mergeLoraRows, convertFloats and quantizeQ8_0 to the addon's exports.
void register_merge(Napi::Env env, Napi::Object exports);

}  // namespace lora
