/**
 * The check a merged export must pass before the studio says "done": reload the exported folder
 * and compare its logits on a few prompts with the base model running the adapter unmerged
 * (LoraLinear: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ). The two paths share no merged weight, so a wrong
 * transpose, scale or tensor name shows up as a large difference.
 *
 * Tolerance is relative to the largest reference logit and depends on the stored dtype: F32 only
 * differs by summation order; F16 / BF16 round every weight (2⁻¹¹ / 2⁻⁸ relative).
 */
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../ml/loader';
import { LoraLinear } from '../ml/lora/layer';
import type { CausalLM } from '../ml/models/causal-lm';
import { loadTokenizer } from '../ml/tokenizer';
import type { AdapterWeights } from '../adapters/peft-files';

export type StoredDtype = 'F32' | 'F16' | 'BF16';

export const LOGITS_TOLERANCE: Record<StoredDtype, number> = { F32: 1e-4, F16: 2e-2, BF16: 1e-1 };

export const CHECK_PROMPTS = ['The capital of France is', 'def fibonacci(n):', 'Once upon a time, a small robot'];

export interface LogitsCheck {
  prompts: number;
  tokens: number;
  dtype: StoredDtype;
  /** max |logits(export) − logits(base + adapter)| */
  maxAbsDiff: number;
  /** max |logits(base + adapter)|, the scale the tolerance is relative to */
  maxAbsLogit: number;
  relativeDiff: number;
  tolerance: number;
  /** Share of positions where both pick the same most likely next token. */
  top1Agreement: number;
  passed: boolean;
}

/**
 * Token ids of the check prompts (the base tokenizer; fixed ids when the folder has none), cut to
 * a common length so they run as one batch.
 */
export function checkPromptIds(baseDir: string, vocabSize: number): number[][] {
  let prompts: number[][];
  try {
    const tok = loadTokenizer(baseDir);
    prompts = CHECK_PROMPTS.map((p) => tok.encode(p)).filter((ids) => ids.length >= 2 && ids.every((i) => i < vocabSize));
  } catch {
    prompts = [];
  }
  if (prompts.length === 0) prompts = [0, 1, 2].map((k) => Array.from({ length: 8 }, (_, i) => (i * 7919 + k * 104729 + 1) % vocabSize));
  const len = Math.min(16, ...prompts.map((p) => p.length));
  return prompts.map((p) => p.slice(0, len));
}

function logitsOf(model: CausalLM, prompts: number[][]): Float32Array[] {
  const t = prompts[0].length;
  const all = tf.tidy(() => model.forward(tf.tensor2d(prompts, [prompts.length, t], 'int32')).dataSync() as Float32Array); // [B, T, V]
  const per = all.length / prompts.length;
  return prompts.map((_, i) => all.slice(i * per, (i + 1) * per));
}

/** Logits of the base model with `adapter` applied unmerged. */
export function referenceLogits(baseDir: string, adapter: AdapterWeights, prompts: number[][]): Float32Array[] {
  const { model } = loadModel(baseDir);
  const layers: LoraLinear[] = [];
  try {
    const slots = model.linearModules();
    for (const m of adapter.modules) {
      const slot = slots.get(m.name);
      if (!slot) throw new Error(`base model has no module ${m.name}`);
      const a = tf.tidy(() => tf.variable(tf.tensor2d(m.a, [m.r, m.inFeatures]), false));
      const b = tf.tidy(() => tf.variable(tf.tensor2d(m.b, [m.outFeatures, m.r]), false));
      const layer = new LoraLinear(slot.base, a, b, m.r, m.alpha, adapter.config.settings.rslora, 0);
      slot.module = layer;
      layers.push(layer);
    }
    return logitsOf(model, prompts);
  } finally {
    for (const l of layers) l.dispose();
    model.dispose();
  }
}

export function exportedLogits(dir: string, prompts: number[][]): Float32Array[] {
  const { model } = loadModel(dir);
  try {
    return logitsOf(model, prompts);
  } finally {
    model.dispose();
  }
}

export function compareLogits(ref: Float32Array[], got: Float32Array[], vocabSize: number, dtype: StoredDtype): LogitsCheck {
  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  let positions = 0;
  let agree = 0;
  for (let p = 0; p < ref.length; p++) {
    const r = ref[p];
    const g = got[p];
    for (let i = 0; i < r.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(r[i] - g[i]));
      maxAbsLogit = Math.max(maxAbsLogit, Math.abs(r[i]));
    }
    for (let t = 0; t < r.length / vocabSize; t++) {
      positions++;
      if (argmax(r, t * vocabSize, vocabSize) === argmax(g, t * vocabSize, vocabSize)) agree++;
    }
  }
  const relativeDiff = maxAbsDiff / Math.max(maxAbsLogit, 1e-12);
  const tolerance = LOGITS_TOLERANCE[dtype];
  return {
    prompts: ref.length,
    tokens: positions,
    dtype,
    maxAbsDiff,
    maxAbsLogit,
    relativeDiff,
    tolerance,
    top1Agreement: positions ? agree / positions : 1,
    passed: Number.isFinite(relativeDiff) && relativeDiff <= tolerance,
  };
}

function argmax(a: Float32Array, from: number, n: number): number {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (a[i] > a[best]) best = i;
  return best - from;
}
