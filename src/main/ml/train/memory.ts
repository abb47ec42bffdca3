/**
 * Memory a LoRA run needs, estimated before it starts (bytes, float32 everywhere):
 *  - weights: every base parameter;
 *  - adapter: lora_A and lora_B plus their gradients and the gradient sum of an accumulation;
 *  - optimizer: AdamW's two moments per trainable parameter;
 *  - activations: what autodiff keeps for the backward pass of one micro-batch of B×T tokens.
 *
 * Activations per token and layer: c_D·D + c_F·F + c_A·nH·T floats (D the width, F the MLP width,
 * T the sequence length: attention scores and probabilities), plus per token c_V·V for the LM
 * head's logits, log-sum-exp and their gradient and c_E·D for the embedding and final norm. The
 * coefficients were fitted by least squares to tfjs' own peak-byte counter (tf.profile) over a grid
 * of random Llamas (widths 64-256, MLP 256-1024, 2-6 layers, vocab 1k-32k, T 32-128; every point
 * within ±6%); c_A is the count of [nH, T] rows autodiff keeps (scores, mask sum, probabilities and
 * their gradient), too small to fit at these lengths. The ops a backend runs change the per-layer
 * part: where the LoRA linear is one fused op (native: no separate dropout, x·Aᵀ and scaled branch
 * kept for the backward pass) c_D drops to C_D_FUSED; the wasm backend's one-node tfjs ops
 * (ops/fused.ts) free what they saved as the backward pass goes, keeping WASM_LAYER_SHARE of the
 * native per-layer activations. Both refitted with bench/train.ts (native: every workload within
 * ±6%; wasm: within ±6%), which prints estimate vs measured.
 */
import type { ModelDims } from '../models/causal-lm';

const C_D = 90;
const C_D_FUSED = 60;
const WASM_LAYER_SHARE = 0.45;
const C_F = 12;
const C_A = 4;
const C_V = 8.5;
const C_E = 35;
const F32 = 4;

export type TrainingOps = 'composite' | 'native' | 'wasm';

/** The ops a backend's training step runs (backends.ts installs them). */
export function trainingOpsOf(backend: string): TrainingOps {
  return backend === 'native' || backend === 'wasm' ? backend : 'composite';
}

export interface MemoryEstimate {
  weightsBytes: number;
  adapterBytes: number;
  optimizerBytes: number;
  activationsBytes: number;
  totalBytes: number;
}

export function estimateTrainingMemory(
  dims: ModelDims,
  baseParams: number,
  trainableParams: number,
  batchSize: number,
  seqLen: number,
  /** The ops the trainer's backend runs: plain tfjs (TensorFlow, cpu), native fused, wasm fused. */
  opts: { ops?: TrainingOps } = {},
): MemoryEstimate {
  const weightsBytes = baseParams * F32;
  const adapterBytes = trainableParams * F32 * 3;
  const optimizerBytes = trainableParams * F32 * 2;
  const tokens = batchSize * seqLen;
  const ops = opts.ops ?? 'composite';
  const perLayer = (ops === 'composite' ? C_D * dims.hiddenSize : C_D_FUSED * dims.hiddenSize) + C_F * dims.intermediateSize + C_A * dims.numHeads * seqLen;
  const layerShare = ops === 'wasm' ? WASM_LAYER_SHARE : 1;
  const activationsBytes = Math.round(tokens * (dims.numLayers * perLayer * layerShare + C_V * dims.vocabSize + C_E * dims.hiddenSize) * F32);
  return {
    weightsBytes,
    adapterBytes,
    optimizerBytes,
    activationsBytes,
    totalBytes: weightsBytes + adapterBytes + optimizerBytes + activationsBytes,
  };
}
