/** Paths of the shared fixtures and shape-only configs of the fixture adapters' base models. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawConfig } from '../../../src/main/ml/config';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');
export const ADAPTERS = path.join(FIXTURES, 'peft-adapters');
export const TINY_LLAMA = path.join(FIXTURES, 'models/tiny-random-llama');
export const TINY_GPT2 = path.join(FIXTURES, 'models/tiny-gpt2');

export const adapterDir = (name: string) => path.join(ADAPTERS, name);

/** config.json of the real base models (too big to ship), as published on the Hugging Face Hub. */
export const BASE_CONFIGS: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, n_ctx: 1024, layer_norm_epsilon: 1e-5 },
  'HuggingFaceTB/SmolLM2-360M-Instruct': {
    model_type: 'llama',
    vocab_size: 49152,
    hidden_size: 960,
    intermediate_size: 2560,
    num_hidden_layers: 32,
    num_attention_heads: 15,
    num_key_value_heads: 5,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  },
  'Qwen/Qwen2.5-0.5B-Instruct': {
    model_type: 'qwen2',
    vocab_size: 151936,
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
  },
  'meta-llama/Llama-3.2-1B': {
    model_type: 'llama',
    vocab_size: 128256,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    tie_word_embeddings: true,
  },
};

export function rawConfig(name: string): RawConfig {
  const json = BASE_CONFIGS[name];
  return { file: `${name}/config.json`, modelType: json.model_type as string, json };
}
