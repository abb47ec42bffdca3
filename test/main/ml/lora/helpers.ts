/** Shared by the LoRA and training tests: the real tiny fixtures, on the reference cpu backend. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../../src/main/ml/loader';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import type { LoraSpec } from '../../../../src/main/ml/lora/spec';

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

