/**
 * The real model code on the native backend with the fused ops installed (setOps(nativeOps)),
 * against the composite ops on the cpu backend: logits of real checkpoints (Llama, GQA Llama 3,
 * Qwen2, GPT-2), and a LoRA training step through LoraLinear (loss and the A/B gradients).
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../../src/main/ml/loader';
import { LoraLinear } from '../../../../src/main/ml/lora/layer';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import { DenseLinear } from '../../../../src/main/ml/models/linear';
import { compositeOps, ops, setOps } from '../../../../src/main/ml/ops';
import { nativeOps } from '../../../../src/main/ml/native/ops';
import { GOLDEN_MODELS, GPT2_DIR, LLAMA_DIR } from '../helpers';
import { expectClose, native, randoms, runOn, setupNative } from './helpers';

const MODELS: [string, string][] = [
  ['llama', LLAMA_DIR],
  ['llama3-gqa', path.join(GOLDEN_MODELS, 'tiny-llama3-gqa')],
  ['qwen2', path.join(GOLDEN_MODELS, 'tiny-qwen2')],
  ['gpt2', GPT2_DIR],
];

/** Runs fn with the given backend and Ops installed (composite on cpu, fused on native). */
async function on(backend: 'cpu' | 'native', fn: () => tf.Tensor | tf.Tensor[]) {
  const prev = setOps(backend === 'native' ? nativeOps : compositeOps);
  try {
    return await runOn(backend, fn);
  } finally {
    setOps(prev);
  }
}

describe.skipIf(!native.ok).each(MODELS)('%s on the native backend with fused ops', (_name, dir) => {
  let model: CausalLM;
  beforeAll(async () => {
    await setupNative();
    await tf.setBackend('cpu');
    model = loadModel(dir).model;
  });
  afterAll(() => model.dispose());

  const prompt = [[5, 17, 3, 42, 8, 23, 61, 11, 2], [9, 4, 33, 7, 1, 12, 5, 60, 28]];

  it('gives the logits of the composite ops on cpu (batch of 2, padding mask)', async () => {
    const run = () => {
      const ids = tf.tensor2d(prompt, [2, 9], 'int32');
      const mask = tf.tensor2d([prompt[0].map(() => 1), prompt[1].map((_, i) => (i < 3 ? 0 : 1))], undefined, 'int32');
      return model.forward(ids, { attentionMask: mask });
    };
    const expected = await on('cpu', run);
    const actual = await on('native', run);
    expectClose(actual[0], expected[0], 1e-5, 'logits');
  });

  it('a LoRA step through LoraLinear: same loss and A/B gradients', async () => {
    const slots = [...model.linearModules()].filter(([name]) => /(q_proj|v_proj|c_attn|o_proj|c_proj)$/.test(name));
    expect(slots.length).toBeGreaterThan(0);
    const r = 4;
    const adapters = slots.map(([name, slot], i) => {
      const base = slot.module as DenseLinear;
      const a = tf.variable(tf.tensor(randoms(r * base.inFeatures, 10 + i, -0.2, 0.2), [r, base.inFeatures]), true, `${name}.A`);
      const b = tf.variable(tf.tensor(randoms(base.outFeatures * r, 50 + i, -0.2, 0.2), [base.outFeatures, r]), true, `${name}.B`);
      slot.module = new LoraLinear(base, a, b, r, 8, false, 0);
      return { slot, base, a, b };
    });
    const V = model.dims.vocabSize;
    try {
      const step = () => {
        const ids = tf.tensor2d(prompt, [2, 9], 'int32');
        const targets = tf.tensor1d([...prompt[0].slice(1), 0, ...prompt[1].slice(1), 0], 'int32');
        const weights = tf.tensor1d([1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0.5, 1, 1, 1, 0]);
        const vars = adapters.flatMap((x) => [x.a, x.b]);
        const { value, grads } = tf.variableGrads(() => {
          const logits = model.forward(ids).reshape([18, V]);
          return tf.div(ops().crossEntropy(logits, targets, weights), 15) as tf.Scalar;
        }, vars);
        return [value, ...vars.map((v) => grads[v.name])];
      };
      const expected = await on('cpu', step);
      const actual = await on('native', step);
      // A whole model's worth of float32 rounding in different orders: the per-op tests hold
      // 1e-5; through every layer and back, gradients agree to a few 1e-5.
      actual.forEach((a, i) => expectClose(a, expected[i], 5e-5, i === 0 ? 'loss' : `gradient ${i}`));
    } finally {
      for (const x of adapters) {
        x.slot.module = x.base;
        tf.dispose([x.a, x.b]);
      }
    }
  });
});
