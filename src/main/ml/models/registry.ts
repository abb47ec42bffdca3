/**
 * Architectures by config.json `model_type`. Aliases share a file: Mistral is the Llama decoder;
 * Qwen2 is Llama with q/k/v biases.
 */
import { ModelConfigError, type RawConfig } from '../config';
import type { CausalLM } from './causal-lm';
import { createGpt2 } from './gpt2';
import { createLlama } from './llama';
import { createQwen2 } from './qwen2';

type Factory = (raw: RawConfig) => CausalLM;

const MODEL_TYPES: Record<string, Factory> = {
  llama: createLlama,
  mistral: createLlama,
  qwen2: createQwen2,
  gpt2: createGpt2,
};

export const SUPPORTED_MODEL_TYPES = Object.keys(MODEL_TYPES);

/** Builds the model skeleton (weights declared, none loaded) for a parsed config.json. */
export function createModel(raw: RawConfig): CausalLM {
  const factory = MODEL_TYPES[raw.modelType];
  if (!factory) {
    throw new ModelConfigError(
      `${raw.file}: model_type "${raw.modelType}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`,
    );
  }
  return factory(raw);
}
