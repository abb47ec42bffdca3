/**
 * Memory a LoRA run needs, estimated before it starts (bytes, float32 everywhere):
 *  - weights: every base parameter;
 *  - adapter: lora_A and lora_B plus their gradients and the gradient sum of an accumulation;
 *  - optimizer: AdamW's two moments per trainable parameter;
 *  - activations: what autodiff keeps for the backward pass of one micro-batch of B×T tokens.
 *
 * Activations per token and layer are counted from the tensors a pre-norm decoder keeps: the
 * normalised inputs and outputs of each projection (≈ c_D·D + c_F·F floats, F the MLP width), the
 * attention scores and probabilities (≈ c_A·nH·T), plus the LM head's logits, log-sum-exp and
 * gradient (≈ c_V·V per token). The coefficients were fitted against tfjs' own peak-byte counter
 * (tf.profile) on the fixtures and the starter model (bench/train.ts prints estimate vs measured).
 */
import type { ModelDims } from '../models/causal-lm';

const C_D = 16;
const C_F = 6;
const C_A = 4;
const C_V = 4;
const F32 = 4;

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
): MemoryEstimate {
  const weightsBytes = baseParams * F32;
  const adapterBytes = trainableParams * F32 * 3;
  const optimizerBytes = trainableParams * F32 * 2;
  const tokens = batchSize * seqLen;
  const perLayer = C_D * dims.hiddenSize + C_F * dims.intermediateSize + C_A * dims.numHeads * seqLen;
  const activationsBytes = tokens * (dims.numLayers * perLayer + C_V * dims.vocabSize) * F32;
  return {
    weightsBytes,
    adapterBytes,
    optimizerBytes,
    activationsBytes,
    totalBytes: weightsBytes + adapterBytes + optimizerBytes + activationsBytes,
  };
}
