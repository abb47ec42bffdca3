/**
 * What every architecture file exports: a causal language model over token ids.
 *
 * A model is built from its parsed config with every weight declared but none loaded (cheap: the
 * loader and `inspectModelFolder` use that skeleton), then filled by the loader.
 */
import type { Tensor } from '@tensorflow/tfjs';
import type { KVCache } from './kv-cache';
import type { LinearSlot } from './linear';
import type { WeightSet } from './weights';

export interface ForwardOptions {
  /** [B, past + T], 1 = real token, 0 = padding. Omit when nothing is padded. */
  attentionMask?: Tensor;
  /** [B, T] int32. Default: from attentionMask (count of real tokens before each), else past..past+T-1. */
  positionIds?: Tensor;
  /** Read and extended in place with this call's keys/values. */
  cache?: KVCache;
  /** Compute logits for the last position only ([B, 1, V]); generation needs no more. */
  lastPositionOnly?: boolean;
}

/** The sizes a model card shows; same names across architectures. */
export interface ModelDims {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  /** Longest sequence the position scheme was trained for. */
  maxPositions: number;
  tiedEmbeddings: boolean;
}

export interface CausalLM {
  /** config.json `model_type` this model was built from. */
  readonly modelType: string;
  readonly dims: ModelDims;
  readonly weights: WeightSet;

  /**
   * token ids [B, T] int32 → logits [B, T, V] float32 (or [B, 1, V] with lastPositionOnly).
   * Differentiable (tf.grads / tf.variableGrads); leaves no tensors behind except the returned
   * logits and the cache's own.
   */
  forward(inputIds: Tensor, opts?: ForwardOptions): Tensor;

  /** Every LoRA-targetable projection by Hugging Face module path, in layer order. */
  linearModules(): Map<string, LinearSlot>;

  newCache(): KVCache;

  /**
   * The declared weight a checkpoint tensor loads into (mlx-lm's `sanitize`), or null to skip it:
   * buffers saved by old transformers versions, a tied lm_head saved anyway, names saved without
   * the base-model prefix.
   */
  weightNameFor(checkpointName: string): string | null;

  /** Releases every weight. */
  dispose(): void;
}
