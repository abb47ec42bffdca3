/** Shared by the LoRA and training tests: the real tiny fixtures, on the reference cpu backend. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../../src/main/ml/loader';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import type { LoraSpec } from '../../../../src/main/ml/lora/spec';
import { writeSafetensors, type TensorToWrite } from '../../../../src/main/ml/safetensors';
import { Rng } from '../../../../src/main/ml/train/rng';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
export const TINY_LLAMA = path.join(FIXTURES, 'models/tiny-random-llama');
export const TINY_GPT2 = path.join(FIXTURES, 'models/tiny-gpt2');

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export function load(dir: string): CausalLM {
  return loadModel(dir).model;
}

export function spec(over: Partial<LoraSpec> = {}): LoraSpec {
  return { r: 4, alpha: 8, dropout: 0, rslora: false, targets: ['q_proj', 'v_proj'], layers: null, rankPattern: {}, alphaPattern: {}, init: 'default', ...over };
}

export function logitsOf(model: CausalLM, ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, [ids.length, ids[0].length], 'int32')).dataSync() as Float32Array);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}


/**
 * A small random Llama written to `dir` (config.json + model.safetensors), with weights at a
 * scale where a few sequences can be memorised quickly: the fixtures' lm_head (std 0.02 over 16
 * features) cannot make any logit stand out, whatever the adapter does.
 */
export function writeRandomLlama(dir: string, seed = 1, dims = { vocab: 128, hidden: 32, inter: 64, layers: 2, heads: 4 }): string {
  const rng = Rng.fromSeed(seed);
  const { vocab: V, hidden: D, inter: F, layers: L, heads: H } = dims;
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: V, hidden_size: D, intermediate_size: F,
    num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: H, max_position_embeddings: 256,
    rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', torch_dtype: 'float32',
    bos_token_id: 1, eos_token_id: 2,
  };
  const t = (name: string, shape: number[], std: number | 'ones'): TensorToWrite => ({
    name, dtype: 'F32', shape,
    data: std === 'ones' ? new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1) : rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, std),
  });
  const tensors: TensorToWrite[] = [t('model.embed_tokens.weight', [V, D], 1), t('model.norm.weight', [D], 'ones'), t('lm_head.weight', [V, D], 0.5)];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    tensors.push(t(`${p}.input_layernorm.weight`, [D], 'ones'), t(`${p}.post_attention_layernorm.weight`, [D], 'ones'));
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) tensors.push(t(`${p}.self_attn.${m}.weight`, [D, D], 0.1));
    tensors.push(t(`${p}.mlp.gate_proj.weight`, [F, D], 0.1), t(`${p}.mlp.up_proj.weight`, [F, D], 0.1), t(`${p}.mlp.down_proj.weight`, [D, F], 0.1));
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return dir;
}
