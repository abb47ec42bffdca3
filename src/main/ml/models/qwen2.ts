/**
 * Qwen2 / Qwen2.5: the Llama decoder with a bias on q_proj, k_proj and v_proj (not o_proj, not
 * the MLP). Only the config differs, so this file maps Qwen2's config.json onto LlamaArgs.
 * Sliding-window attention (`use_sliding_window: true`) is refused: released Qwen2.5 checkpoints
 * ship with it off.
 */
import { z } from 'zod';
import { parseConfig, unsupported, type RawConfig } from '../config';
import { LlamaModel, checkLlamaArgs, ropeScalingOrThrow } from './llama';
import { RopeScalingSchema } from './rope';

const int = z.number().int().positive();

/** Defaults as in transformers' Qwen2Config. */
export const Qwen2ConfigSchema = z.object({
  model_type: z.string(),
  vocab_size: int,
  hidden_size: int,
  intermediate_size: int,
  num_hidden_layers: int,
  num_attention_heads: int,
  num_key_value_heads: int.nullish(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: RopeScalingSchema,
  max_position_embeddings: int.default(32768),
  tie_word_embeddings: z.boolean().default(false),
  hidden_act: z.string().default('silu'),
  use_sliding_window: z.boolean().default(false),
});

export function createQwen2(raw: RawConfig): LlamaModel {
  const c = parseConfig(Qwen2ConfigSchema, raw);
  if (c.use_sliding_window) throw unsupported(raw, 'use_sliding_window', 'sliding-window attention is not supported');
  const args = checkLlamaArgs(
    raw,
    {
      modelType: c.model_type,
      vocabSize: c.vocab_size,
      hiddenSize: c.hidden_size,
      intermediateSize: c.intermediate_size,
      numLayers: c.num_hidden_layers,
      numHeads: c.num_attention_heads,
      numKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
      headDim: c.hidden_size / c.num_attention_heads,
      rmsNormEps: c.rms_norm_eps,
      ropeTheta: c.rope_theta,
      ropeScaling: ropeScalingOrThrow(raw, c.rope_scaling),
      maxPositions: c.max_position_embeddings,
      tieWordEmbeddings: c.tie_word_embeddings,
      qkvBias: true,
      oBias: false,
      mlpBias: false,
      slidingWindow: null,
    },
    c.hidden_act,
  );
  return new LlamaModel(args);
}
