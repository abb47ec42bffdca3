/**
 * GPT-2 (GPT2LMHeadModel):
 *
 *   h = wte(ids) + wpe(positions)                         learned absolute positions
 *   per block:  h = h + attn.c_proj(attention(split(attn.c_attn(ln_1(h)))))
 *               h = h + mlp.c_proj(gelu_new(mlp.c_fc(ln_2(h))))
 *   logits = ln_f(h) · wteᵀ                               lm_head is always tied to wte
 *
 * Checkpoint quirks handled on load: Conv1D weights are stored (in, out) and transposed to the
 * nn.Linear layout every other model uses; q/k/v are fused in c_attn ([3D] outputs, q then k
 * then v); old checkpoints carry causal-mask buffers (`attn.bias`, `attn.masked_bias`) and names
 * without the `transformer.` prefix. Left out: activations other than the tanh GELU, cross-attention.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { z } from 'zod';
import { parseConfig, unsupported, type RawConfig } from '../config';
import { ops, additiveAttentionMask, positionIdsFor } from '../ops';
import type { CausalLM, ForwardOptions, ModelDims } from './causal-lm';
import { KVCache, type LayerCache } from './kv-cache';
import { linearSlot, type LinearSlot } from './linear';
import { WeightSet, type Weight } from './weights';

const int = z.number().int().positive();

/** config.json fields; optional ones default as in transformers' GPT2Config. */
export const Gpt2ConfigSchema = z.object({
  model_type: z.string(),
  vocab_size: int,
  n_embd: int,
  n_layer: int,
  n_head: int,
  n_positions: int,
  n_inner: int.nullish(),
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z.string().default('gelu_new'),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  add_cross_attention: z.boolean().default(false),
});

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

export interface Gpt2Args {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  maxPositions: number;
  innerSize: number;
  layerNormEps: number;
  scaleAttnWeights: boolean;
  scaleAttnByInverseLayerIdx: boolean;
}

export function gpt2ArgsFromConfig(raw: RawConfig): Gpt2Args {
  const c = parseConfig(Gpt2ConfigSchema, raw);
  if (!TANH_GELUS.includes(c.activation_function)) {
    throw unsupported(raw, 'activation_function', `"${c.activation_function}" is not supported (supported: ${TANH_GELUS.join(', ')})`);
  }
  if (c.add_cross_attention) throw unsupported(raw, 'add_cross_attention', 'cross-attention is not supported');
  if (c.n_embd % c.n_head !== 0) throw unsupported(raw, 'n_head', `${c.n_head} does not divide n_embd ${c.n_embd}`);
  return {
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    hiddenSize: c.n_embd,
    numLayers: c.n_layer,
    numHeads: c.n_head,
    maxPositions: c.n_positions,
    innerSize: c.n_inner ?? 4 * c.n_embd,
    layerNormEps: c.layer_norm_epsilon,
    scaleAttnWeights: c.scale_attn_weights,
    scaleAttnByInverseLayerIdx: c.scale_attn_by_inverse_layer_idx,
  };
}

/** A LayerNorm's weight and bias. */
interface Norm {
  weight: Weight;
  bias: Weight;
}

function declareNorm(ws: WeightSet, name: string, D: number): Norm {
  return { weight: ws.declare(`${name}.weight`, [D]), bias: ws.declare(`${name}.bias`, [D]) };
}

class Gpt2Attention {
  readonly cAttn: LinearSlot;
  readonly cProj: LinearSlot;
  private readonly scale: number;

  constructor(
    private readonly args: Gpt2Args,
    prefix: string,
    layerIdx: number,
    ws: WeightSet,
  ) {
    const D = args.hiddenSize;
    this.cAttn = linearSlot(ws, `${prefix}.c_attn`, D, 3 * D, { bias: true, storedTransposed: true });
    this.cProj = linearSlot(ws, `${prefix}.c_proj`, D, D, { bias: true, storedTransposed: true });
    const hd = D / args.numHeads;
    this.scale = (args.scaleAttnWeights ? 1 / Math.sqrt(hd) : 1) / (args.scaleAttnByInverseLayerIdx ? layerIdx + 1 : 1);
  }

  /** x [B, T, D] → [B, T, D] */
  forward(x: Tensor, mask: Tensor | null, cache?: LayerCache): Tensor {
    const { hiddenSize: D, numHeads: nH } = this.args;
    const hd = D / nH;
    const [B, T] = x.shape;
    const heads = (t: Tensor) => t.reshape([B, T, nH, hd]).transpose([0, 2, 1, 3]); // [B, nH, T, hd]
    const [q, k0, v0] = tf.split(this.cAttn.forward(x), 3, 2).map(heads); // c_attn: [B, T, 3D]
    let k = k0;
    let v = v0;
    if (cache) [k, v] = cache.update(k, v); // [B, nH, past + T, hd]
    const out = ops().attention(q, k, v, mask, this.scale); // [B, nH, T, hd]
    return this.cProj.forward(out.transpose([0, 2, 1, 3]).reshape([B, T, D]));
  }
}

class Gpt2MLP {
  readonly cFc: LinearSlot;
  readonly cProj: LinearSlot;

  constructor(args: Gpt2Args, prefix: string, ws: WeightSet) {
    this.cFc = linearSlot(ws, `${prefix}.c_fc`, args.hiddenSize, args.innerSize, { bias: true, storedTransposed: true });
    this.cProj = linearSlot(ws, `${prefix}.c_proj`, args.innerSize, args.hiddenSize, { bias: true, storedTransposed: true });
  }

  /** x [B, T, D] → [B, T, D] (via [B, T, inner]) */
  forward(x: Tensor): Tensor {
    return this.cProj.forward(ops().gelu(this.cFc.forward(x)));
  }
}

class Gpt2Block {
  readonly attn: Gpt2Attention;
  readonly mlp: Gpt2MLP;
  private readonly ln1: Norm;
  private readonly ln2: Norm;

  constructor(
    private readonly args: Gpt2Args,
    prefix: string,
    layerIdx: number,
    ws: WeightSet,
  ) {
    this.ln1 = declareNorm(ws, `${prefix}.ln_1`, args.hiddenSize);
    this.attn = new Gpt2Attention(args, `${prefix}.attn`, layerIdx, ws);
    this.ln2 = declareNorm(ws, `${prefix}.ln_2`, args.hiddenSize);
    this.mlp = new Gpt2MLP(args, `${prefix}.mlp`, ws);
  }

  forward(x: Tensor, mask: Tensor | null, cache?: LayerCache): Tensor {
    const eps = this.args.layerNormEps;
    const h = tf.add(x, this.attn.forward(ops().layerNorm(x, this.ln1.weight.value, this.ln1.bias.value, eps), mask, cache));
    return tf.add(h, this.mlp.forward(ops().layerNorm(h, this.ln2.weight.value, this.ln2.bias.value, eps)));
  }
}

export class Gpt2Model implements CausalLM {
  readonly weights = new WeightSet();
  readonly modelType: string;
  readonly dims: ModelDims;
  private readonly wte: Weight;
  private readonly wpe: Weight;
  private readonly blocks: Gpt2Block[];
  private readonly lnF: Norm;

  constructor(readonly args: Gpt2Args) {
    const { vocabSize: V, hiddenSize: D } = args;
    this.modelType = args.modelType;
    this.wte = this.weights.declare('transformer.wte.weight', [V, D]);
    this.wpe = this.weights.declare('transformer.wpe.weight', [args.maxPositions, D]);
    this.blocks = Array.from({ length: args.numLayers }, (_, i) => new Gpt2Block(args, `transformer.h.${i}`, i, this.weights));
    this.lnF = declareNorm(this.weights, 'transformer.ln_f', D);
    this.dims = {
      vocabSize: V,
      hiddenSize: D,
      numLayers: args.numLayers,
      numHeads: args.numHeads,
      numKvHeads: args.numHeads,
      headDim: D / args.numHeads,
      intermediateSize: args.innerSize,
      maxPositions: args.maxPositions,
      tiedEmbeddings: true,
    };
  }

  forward(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const [B, T] = inputIds.shape;
    const past = opts.cache?.length ?? 0;
    if (past + T > this.args.maxPositions) {
      throw new Error(`gpt2: ${past + T} tokens exceed n_positions ${this.args.maxPositions}`);
    }
    return tf.tidy(() => {
      const positions = opts.positionIds ?? positionIdsFor(opts.attentionMask, B, T, past); // [B, T]
      const mask = additiveAttentionMask(opts.attentionMask, B, T, past); // [B, 1, T, past + T] or null
      let h = tf.add(tf.gather(this.wte.value, inputIds.cast('int32')), tf.gather(this.wpe.value, positions.cast('int32'))); // [B, T, D]
      this.blocks.forEach((block, i) => {
        const x = h;
        h = tf.tidy(() => block.forward(x, mask, opts.cache?.layers[i])); // frees the block's intermediates now
      });
      if (opts.lastPositionOnly) h = h.slice([0, T - 1], [B, 1]); // [B, 1, D]
      const normed = ops().layerNorm(h, this.lnF.weight.value, this.lnF.bias.value, this.args.layerNormEps);
      return ops().linear(normed, this.wte.value); // tied head: [B, T|1, V]
    });
  }

  linearModules(): Map<string, LinearSlot> {
    const slots = new Map<string, LinearSlot>();
    for (const b of this.blocks) {
      for (const s of [b.attn.cAttn, b.attn.cProj, b.mlp.cFc, b.mlp.cProj]) slots.set(s.name, s);
    }
    return slots;
  }

  newCache(): KVCache {
    return new KVCache(this.args.numLayers);
  }

  weightNameFor(name: string): string | null {
    if (/\.attn\.(bias|masked_bias)$/.test(name)) return null; // causal-mask buffers
    if (name === 'lm_head.weight') return null; // tied to wte
    return name.startsWith('transformer.') ? name : `transformer.${name}`;
  }

  dispose(): void {
    this.weights.dispose();
  }
}

export function createGpt2(raw: RawConfig): Gpt2Model {
  return new Gpt2Model(gpt2ArgsFromConfig(raw));
}
