// Fused transformer ops, forward and backward, for the Ops interface of
// src/main/ml/ops/types.ts. Row-major float32; shapes in the comments.
#pragma once

#include <cstdint>

namespace lora {

// y = x / sqrt(mean(x^2) + eps) * w. x, y [N, D], w [D]; rstd [N] saved.
void rmsnorm_fwd(const float* x, const float* w, int64_t n, int64_t d, float eps, float* y, float* rstd);
// dx [N, D], dw [D] (dw may be null).
void rmsnorm_bwd(const float* dy, const float* x, const float* w, const float* rstd, int64_t n, int64_t d, float* dx,
                 float* dw);

// y = (x - mean) * rstd * w + b. mean, rstd [N] saved.
void layernorm_fwd(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                   float* mean, float* rstd);
void layernorm_bwd(const float* dy, const float* x, const float* w, const float* mean, const float* rstd, int64_t n,
                   int64_t d, float* dx, float* dw, float* db);

// Rotate-half RoPE. x, y [B, H, T, hd]; cos, sin [cb, T, hd] with cb 1 or B.
void rope_fwd(const float* x, const float* cos, const float* sin, int64_t b, int64_t h, int64_t t, int64_t hd,
              int64_t cb, float* y);
// Also the inverse rotation: dx = rope_bwd(dy).
void rope_bwd(const float* dy, const float* cos, const float* sin, int64_t b, int64_t h, int64_t t, int64_t hd,
              int64_t cb, float* dx);

// softmax(q k^T * scale + mask) v with grouped-query heads (query head h
// reads kv head h / (nH / nKV)). q, out [B, nH, T, hd]; k, v [B, nKV, Tk, hd];
// mask [mb, T, Tk] additive (mb 1 or B) or null; probs [B, nH, T, Tk] saved.
void attention_fwd(const float* q, const float* k, const float* v, const float* mask, int64_t b, int64_t nh,
                   int64_t nkv, int64_t t, int64_t tk, int64_t hd, int64_t mb, float scale, float* out, float* probs);
void attention_bwd(const float* dout, const float* q, const float* k, const float* v, const float* probs, int64_t b,
                   int64_t nh, int64_t nkv, int64_t t, int64_t tk, int64_t hd, float scale, float* dq, float* dk,
                   float* dv);

// y = silu(g) * u.
void swiglu_fwd(const float* g, const float* u, int64_t n, float* y);
void swiglu_bwd(const float* dy, const float* g, const float* u, int64_t n, float* dg, float* du);

// GELU, tanh approximation.
void gelu_fwd(const float* x, int64_t n, float* y);
void gelu_bwd(const float* dy, const float* x, int64_t n, float* dx);

// Per-row logsumexp of logits [N, V] into lse [N] and loss = sum_i w_i
// (lse_i - logits[i, t_i]) over rows with w_i != 0. Returns false (leaving
// *bad_row) when such a row's target is outside [0, V).
bool xent_fwd(const float* logits, const int32_t* targets, const float* weights, int64_t n, int64_t v, float* lse,
              double* loss, int64_t* bad_row);
// dlogits[i] = dy * w_i * (softmax(logits_i) - onehot(t_i)).
void xent_bwd(float dy, const float* logits, const int32_t* targets, const float* weights, const float* lse, int64_t n,
              int64_t v, float* dlogits);

}  // namespace lora

namespace lora {

// LoRA linear: y = x W^T (+ bias) + scale (xl A^T) B^T, with xl the LoRA
// branch's input (x after dropout; x itself when null). x [N, in], W [out, in],
// bias [out] or null, A [r, in], B [out, r]; y [N, out], h = xl A^T [N, r]
// saved for the backward.
void lora_linear_fwd(const float* x, const float* xl, const float* w, const float* bias, const float* a,
                     const float* b, int64_t n, int64_t in, int64_t out, int64_t r, float scale, float* y, float* h);
// dx = dy W (+ g A when xl is x), dxl = g A (when xl is separate, else null),
// dA = g^T xl, dB = scale dy^T h, with g = scale dy B [N, r]. W gets no
// gradient: it is the frozen base weight.
void lora_linear_bwd(const float* dy, const float* x, const float* xl, const float* w, const float* a, const float* b,
                     const float* h, int64_t n, int64_t in, int64_t out, int64_t r, float scale, float* dx, float* dxl,
                     float* da, float* db);

}  // namespace lora
