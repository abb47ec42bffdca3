/** From a run config to the LoRA spec, with each architecture's default target modules. */
import type { RunConfigParsed } from '../../shared/contract/runs';
import type { LoraSpec } from '../ml/lora/spec';

/** PEFT's defaults (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
const DEFAULT_TARGETS: Record<string, string[]> = {
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  gpt2: ['c_attn'],
};

export function defaultTargets(modelType: string): string[] {
  return DEFAULT_TARGETS[modelType] ?? ['q_proj', 'v_proj'];
}

export function loraSpecOf(c: RunConfigParsed, modelType: string): LoraSpec {
  return {
    r: c.rank,
    alpha: c.alpha,
    dropout: c.dropout,
    rslora: c.rslora,
    targets: c.targets ?? defaultTargets(modelType),
    layers: c.layers === 'all' ? null : [...c.layers],
    rankPattern: c.rankPattern,
    alphaPattern: c.alphaPattern,
    init: c.init,
  };
}
