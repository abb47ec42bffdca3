/**
 * The heavy math of a transformer forward pass, behind one small interface so that it can be
 * swapped for fused native kernels without touching the model files.
 *
 * Every implementation must give the same results as `composite.ts` (pure tfjs, the reference)
 * up to float32 rounding, must be differentiable by tf.grads / tf.variableGrads (a native kernel
 * registers its gradient, or falls back to the composite one when a tape is recording), and must
 * not keep tensors: outputs belong to the caller, intermediates are released.
 *
 * Shapes use: B batch, T query length, Tk key length (past + T), D model width, nH query heads,
 * nKV key/value heads (nH is a multiple of nKV: grouped-query attention), hd head size, V vocab,
 * N rows (usually B*T).
 */
import type { Scalar, Tensor } from '@tensorflow/tfjs';

export interface Ops {
  readonly name: string;

  /** y = x · weightᵀ + bias. x [..., in], weight [out, in] (nn.Linear layout), bias [out] → [..., out]. */
  linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor;

  /**
   * Optional fused LoRA projection: y = x·weightᵀ (+ bias) + scale·(xLora·loraAᵀ)·loraBᵀ, where
   * xLora is x after dropout (x itself when omitted). x/xLora [..., in], weight [out, in],
   * loraA [r, in], loraB [out, r], bias [out] or null → [..., out]. Gradients go to x, xLora,
   * loraA and loraB; weight and bias are the frozen base layer and get none. Where an
   * implementation leaves it out, LoRA layers (src/main/ml/lora/layer.ts) compose it from `linear`.
   */
  loraLinear?(x: Tensor, weight: Tensor, bias: Tensor | null, loraA: Tensor, loraB: Tensor, scale: number, xLora?: Tensor): Tensor;

  /** x / sqrt(mean(x², last axis) + eps) * weight. x [..., D], weight [D] → [..., D]. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor;

  /** (x - mean) / sqrt(var + eps) * weight + bias over the last axis. x [..., D], weight/bias [D] → [..., D]. */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor;

  /**
   * Rotary position embedding in Hugging Face's rotate-half layout (pairs are (i, i + hd/2)):
   * x·cos + rotate_half(x)·sin. x [B, nH, T, hd], cos/sin [B, T, hd] → [B, nH, T, hd].
   */
  rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor;

  /**
   * softmax(q·kᵀ·scale + mask) · v, per head; query head h reads key/value head ⌊h / (nH/nKV)⌋.
   * q [B, nH, T, hd], k/v [B, nKV, Tk, hd], mask additive [B, 1, T, Tk] (0 = attend, large
   * negative = masked; see ops/mask.ts) or null for none → [B, nH, T, hd].
   */
  attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, scale: number): Tensor;

  /** silu(gate) · up (the SwiGLU MLP's gate). gate/up [..., F] → [..., F]. */
  swiglu(gate: Tensor, up: Tensor): Tensor;

  /** GELU, tanh approximation (GPT-2's `gelu_new`, `gelu_pytorch_tanh`). Any shape. */
  gelu(x: Tensor): Tensor;

  /**
   * Weighted SUM of token cross-entropies: Σᵢ weightsᵢ · (logsumexp(logitsᵢ) − logitsᵢ[targetsᵢ]).
   * logits [N, V] float32, targets [N] int32 (any id in [0, V) where the weight is 0), weights [N]
   * float32 → scalar. Divide by Σ weights (or the token count of the whole accumulation) for a mean.
   */
  crossEntropy(logits: Tensor, targets: Tensor, weights: Tensor): Scalar;
}
