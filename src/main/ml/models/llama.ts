/**
 * Llama family decoder (Llama 2/3.x, TinyLlama, SmolLM, Mistral; Qwen2 via ./qwen2.ts), after
 * mlx-lm's models/llama.py:
 *
 *   h   = embed_tokens(ids)
 *   per layer:  h = h + o_proj(attention(rope(q_proj(rms(h))), rope(k_proj(..)), v_proj(..)))
 *               h = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
 *   logits = lm_head(rms(h))          (lm_head = embed_tokens when tie_word_embeddings)
 *
 * Grouped-query attention (num_key_value_heads < num_attention_heads), rope_scaling none/linear/
 * llama3, optional biases (attention_bias, mlp_bias; Qwen2's q/k/v-only bias). Left out: sliding-
 * window attention (refused when a sequence would exceed the window), other rope scalings.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { z } from 'zod';
import { parseConfig, unsupported, type RawConfig } from '../config';
import { ops, additiveAttentionMask, positionIdsFor } from '../ops';
import type { CausalLM, ForwardOptions, ModelDims } from './causal-lm';
import { KVCache, type LayerCache } from './kv-cache';
import { linearSlot, type LinearSlot } from './linear';
import { RopeScalingSchema, ropeCosSin, ropeInverseFrequencies, ropeScalingFrom, type RopeScaling } from './rope';
import { WeightSet, type Weight } from './weights';

const int = z.number().int().positive();

/** config.json fields (Hugging Face names); optional ones default as in transformers' LlamaConfig. */
export const LlamaConfigSchema = z.object({
  model_type: z.string(),
  vocab_size: int,
  hidden_size: int,
  intermediate_size: int,
  num_hidden_layers: int,
  num_attention_heads: int,
  num_key_value_heads: int.nullish(),
  head_dim: int.nullish(),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: RopeScalingSchema,
  max_position_embeddings: int.default(2048),
  tie_word_embeddings: z.boolean().default(false),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  hidden_act: z.string().default('silu'),
  sliding_window: int.nullish(),
});

export interface LlamaArgs {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Which projections carry a bias. Llama: attention_bias on q/k/v/o; Qwen2: q/k/v only. */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Attention window in tokens, or null for full attention. */
  slidingWindow: number | null;
}

export function llamaArgsFromConfig(raw: RawConfig): LlamaArgs {
  const c = parseConfig(LlamaConfigSchema, raw);
  return checkLlamaArgs(raw, {
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    ropeScaling: ropeScalingOrThrow(raw, c.rope_scaling),
    maxPositions: c.max_position_embeddings,
    tieWordEmbeddings: c.tie_word_embeddings,
    qkvBias: c.attention_bias,
    oBias: c.attention_bias,
    mlpBias: c.mlp_bias,
    slidingWindow: c.sliding_window ?? null,
  }, c.hidden_act);
}

export function ropeScalingOrThrow(raw: RawConfig, scaling: z.infer<typeof RopeScalingSchema>): RopeScaling {
  const r = ropeScalingFrom(scaling);
  if (typeof r === 'string') throw unsupported(raw, 'rope_scaling', r);
  return r;
}

/** Cross-field checks shared with qwen2.ts. */
export function checkLlamaArgs(raw: RawConfig, a: LlamaArgs, hiddenAct: string): LlamaArgs {
  if (hiddenAct !== 'silu') throw unsupported(raw, 'hidden_act', `"${hiddenAct}" is not supported (only "silu")`);
  if (!Number.isInteger(a.headDim) || a.headDim % 2 !== 0) {
    throw unsupported(raw, 'head_dim', `head size ${a.headDim} must be an even integer`);
  }
  if (a.numHeads % a.numKvHeads !== 0) {
    throw unsupported(raw, 'num_key_value_heads', `${a.numKvHeads} does not divide num_attention_heads ${a.numHeads}`);
  }
  return a;
}

class Attention {
  readonly qProj: LinearSlot;
  readonly kProj: LinearSlot;
  readonly vProj: LinearSlot;
  readonly oProj: LinearSlot;

  constructor(
    private readonly args: LlamaArgs,
    prefix: string,
    ws: WeightSet,
  ) {
    const { hiddenSize: D, numHeads: nH, numKvHeads: nKV, headDim: hd } = args;
    this.qProj = linearSlot(ws, `${prefix}.q_proj`, D, nH * hd, { bias: args.qkvBias });
    this.kProj = linearSlot(ws, `${prefix}.k_proj`, D, nKV * hd, { bias: args.qkvBias });
    this.vProj = linearSlot(ws, `${prefix}.v_proj`, D, nKV * hd, { bias: args.qkvBias });
    this.oProj = linearSlot(ws, `${prefix}.o_proj`, nH * hd, D, { bias: args.oBias });
  }

  /** x [B, T, D] → [B, T, D] */
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, cache?: LayerCache): Tensor {
    const { numHeads: nH, numKvHeads: nKV, headDim: hd } = this.args;
    const [B, T] = x.shape;
    const heads = (t: Tensor, n: number) => t.reshape([B, T, n, hd]).transpose([0, 2, 1, 3]); // [B, n, T, hd]
    const q = ops().rope(heads(this.qProj.forward(x), nH), cos, sin); // [B, nH, T, hd]
    let k = ops().rope(heads(this.kProj.forward(x), nKV), cos, sin); // [B, nKV, T, hd]
    let v = heads(this.vProj.forward(x), nKV); // [B, nKV, T, hd]
    if (cache) [k, v] = cache.update(k, v); // [B, nKV, past + T, hd]
    const out = ops().attention(q, k, v, mask, 1 / Math.sqrt(hd)); // [B, nH, T, hd]
    return this.oProj.forward(out.transpose([0, 2, 1, 3]).reshape([B, T, nH * hd]));
  }
}

class MLP {
  readonly gateProj: LinearSlot;
  readonly upProj: LinearSlot;
  readonly downProj: LinearSlot;

  constructor(args: LlamaArgs, prefix: string, ws: WeightSet) {
    const { hiddenSize: D, intermediateSize: F, mlpBias: bias } = args;
    this.gateProj = linearSlot(ws, `${prefix}.gate_proj`, D, F, { bias });
    this.upProj = linearSlot(ws, `${prefix}.up_proj`, D, F, { bias });
    this.downProj = linearSlot(ws, `${prefix}.down_proj`, F, D, { bias });
  }

  /** x [B, T, D] → [B, T, D] (via [B, T, F]) */
  forward(x: Tensor): Tensor {
    return this.downProj.forward(ops().swiglu(this.gateProj.forward(x), this.upProj.forward(x)));
  }
}

class DecoderLayer {
  readonly selfAttn: Attention;
  readonly mlp: MLP;
  private readonly inputNorm: Weight;
  private readonly postAttnNorm: Weight;

  constructor(
    private readonly args: LlamaArgs,
    prefix: string,
    ws: WeightSet,
  ) {
    this.selfAttn = new Attention(args, `${prefix}.self_attn`, ws);
    this.mlp = new MLP(args, `${prefix}.mlp`, ws);
    this.inputNorm = ws.declare(`${prefix}.input_layernorm.weight`, [args.hiddenSize]);
    this.postAttnNorm = ws.declare(`${prefix}.post_attention_layernorm.weight`, [args.hiddenSize]);
  }

  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | null, cache?: LayerCache): Tensor {
    const eps = this.args.rmsNormEps;
    const h = tf.add(x, this.selfAttn.forward(ops().rmsNorm(x, this.inputNorm.value, eps), cos, sin, mask, cache));
    return tf.add(h, this.mlp.forward(ops().rmsNorm(h, this.postAttnNorm.value, eps)));
  }
}

export class LlamaModel implements CausalLM {
  readonly weights = new WeightSet();
  readonly modelType: string;
  readonly dims: ModelDims;
  private readonly embedTokens: Weight;
  private readonly layers: DecoderLayer[];
  private readonly norm: Weight;
  /** [V, D]; the embedding itself when tied. */
  private readonly lmHead: Weight;
  private readonly invFreq: Float32Array;

  constructor(readonly args: LlamaArgs) {
    const { vocabSize: V, hiddenSize: D } = args;
    this.modelType = args.modelType;
    this.embedTokens = this.weights.declare('model.embed_tokens.weight', [V, D]);
    this.layers = Array.from({ length: args.numLayers }, (_, i) => new DecoderLayer(args, `model.layers.${i}`, this.weights));
    this.norm = this.weights.declare('model.norm.weight', [D]);
    this.lmHead = args.tieWordEmbeddings ? this.embedTokens : this.weights.declare('lm_head.weight', [V, D]);
    this.invFreq = ropeInverseFrequencies(args.headDim, args.ropeTheta, args.ropeScaling);
    this.dims = {
      vocabSize: V,
      hiddenSize: D,
      numLayers: args.numLayers,
      numHeads: args.numHeads,
      numKvHeads: args.numKvHeads,
      headDim: args.headDim,
      intermediateSize: args.intermediateSize,
      maxPositions: args.maxPositions,
      tiedEmbeddings: args.tieWordEmbeddings,
    };
  }

  forward(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const [B, T] = inputIds.shape;
    const past = opts.cache?.length ?? 0;
    if (this.args.slidingWindow !== null && past + T > this.args.slidingWindow) {
      throw new Error(`${this.modelType}: ${past + T} tokens exceed the sliding window of ${this.args.slidingWindow}, which is not implemented`);
    }
    return tf.tidy(() => {
      const positions = opts.positionIds ?? positionIdsFor(opts.attentionMask, B, T, past);
      const { cos, sin } = ropeCosSin(positions, this.invFreq); // [B, T, hd] each
      const mask = additiveAttentionMask(opts.attentionMask, B, T, past); // [B, 1, T, past + T] or null
      let h = tf.gather(this.embedTokens.value, inputIds.cast('int32')); // [B, T, D]
      this.layers.forEach((layer, i) => {
        const x = h;
        h = tf.tidy(() => layer.forward(x, cos, sin, mask, opts.cache?.layers[i])); // frees the layer's intermediates now
      });
      if (opts.lastPositionOnly) h = h.slice([0, T - 1], [B, 1]); // [B, 1, D]
      return ops().linear(ops().rmsNorm(h, this.norm.value, this.args.rmsNormEps), this.lmHead.value); // [B, T|1, V]
    });
  }

  linearModules(): Map<string, LinearSlot> {
    const slots = new Map<string, LinearSlot>();
    for (const layer of this.layers) {
      const { selfAttn: a, mlp: m } = layer;
      for (const s of [a.qProj, a.kProj, a.vProj, a.oProj, m.gateProj, m.upProj, m.downProj]) slots.set(s.name, s);
    }
    return slots;
  }

  newCache(): KVCache {
    return new KVCache(this.args.numLayers);
  }

  weightNameFor(name: string): string | null {
    if (name.endsWith('.rotary_emb.inv_freq')) return null;
    if (this.args.tieWordEmbeddings && name === 'lm_head.weight') return null;
    return name;
  }

  dispose(): void {
    this.weights.dispose();
  }
}

export function createLlama(raw: RawConfig): LlamaModel {
  return new LlamaModel(llamaArgsFromConfig(raw));
}
