/**
 * Forward-pass properties every architecture must have: KV-cache steps equal a full forward,
 * left padding with a mask equals the unpadded sequence, no tensor leaks, gradients flow into a
 * module placed in a LinearSlot (the LoRA seam) and match finite differences.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../../src/main/ml/loader';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import type { Linear } from '../../../../src/main/ml/models/linear';
import { GOLDEN_MODELS, GPT2_DIR, LLAMA_DIR } from '../helpers';

const MODELS: [string, string][] = [
  ['llama', LLAMA_DIR],
  ['llama3-gqa', path.join(GOLDEN_MODELS, 'tiny-llama3-gqa')],
  ['qwen2', path.join(GOLDEN_MODELS, 'tiny-qwen2')],
  ['gpt2', GPT2_DIR],
  ['gpt2-h32', path.join(GOLDEN_MODELS, 'tiny-gpt2-old-names')],
];

const ids = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0].length], 'int32');

function logitsOf(model: CausalLM, rows: number[][], opts: Parameters<CausalLM['forward']>[1] = {}): number[][][] {
  const input = ids(rows);
  const out = model.forward(input, opts);
  const arr = out.arraySync() as number[][][];
  input.dispose();
  out.dispose();
  return arr;
}

function maxDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** A LoRA-like adapter: base(x) + x·A·B with trainable A [in, r], B [r, out]. */
class TestAdapter implements Linear {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  constructor(
    readonly base: Linear,
    readonly a: tf.Variable,
    readonly b: tf.Variable,
  ) {
    this.name = base.name;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const flat = x.reshape([-1, this.inFeatures]);
      const delta = tf.matMul(tf.matMul(flat, this.a), this.b).reshape([...x.shape.slice(0, -1), this.outFeatures]);
      return tf.add(this.base.forward(x), delta);
    });
  }
}

describe.each(MODELS)('%s forward', (_name, dir) => {
  let model: CausalLM;
  let V: number;
  const prompt = [5, 17, 3, 42, 8, 23, 61, 11, 2];

  beforeAll(() => {
    model = loadModel(dir).model;
    V = model.dims.vocabSize;
  });
  afterAll(() => model.dispose());

  it('KV-cache prefill + one-token steps give the logits of a full forward', () => {
    const full = logitsOf(model, [prompt])[0]; // [T, V]
    const cache = model.newCache();
    const split = 4;
    const stepped = logitsOf(model, [prompt.slice(0, split)], { cache })[0];
    for (let t = split; t < prompt.length; t++) stepped.push(logitsOf(model, [[prompt[t]]], { cache })[0][0]);
    expect(cache.length).toBe(prompt.length);
    cache.dispose();
    full.forEach((row, t) => expect(maxDiff(row, stepped[t]), `t=${t}`).toBeLessThan(1e-4));
  });

  it('left padding with an attention mask gives the unpadded logits', () => {
    const short = prompt.slice(0, 5);
    const pad = 0;
    const rows = [prompt, [...new Array(prompt.length - short.length).fill(pad), ...short]];
    const mask = tf.tensor2d([prompt.map(() => 1), rows[1].map((_, i) => (i < prompt.length - short.length ? 0 : 1))], undefined, 'int32');
    const batched = logitsOf(model, rows, { attentionMask: mask });
    mask.dispose();
    const alone = logitsOf(model, [short])[0];
    const aloneFull = logitsOf(model, [prompt])[0];
    alone.forEach((row, t) => expect(maxDiff(row, batched[1][prompt.length - short.length + t])).toBeLessThan(1e-4));
    aloneFull.forEach((row, t) => expect(maxDiff(row, batched[0][t])).toBeLessThan(1e-4));
    for (const row of batched[1]) expect(row.every(Number.isFinite)).toBe(true); // padded rows stay finite
  });

  it('lastPositionOnly returns the last row of the full logits', () => {
    const full = logitsOf(model, [prompt])[0];
    const last = logitsOf(model, [prompt], { lastPositionOnly: true });
    expect(last[0].length).toBe(1);
    expect(maxDiff(last[0][0], full[full.length - 1])).toBeLessThan(1e-5);
    expect(last[0][0].length).toBe(V);
  });

  it('leaves no tensors behind, with or without a cache', () => {
    logitsOf(model, [prompt]); // warm-up (backends may keep one-time tensors)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) logitsOf(model, [prompt, prompt]);
    expect(tf.memory().numTensors).toBe(before);
    const cache = model.newCache();
    logitsOf(model, [prompt], { cache });
    logitsOf(model, [[1]], { cache });
    expect(tf.memory().numTensors).toBe(before + 2 * model.dims.numLayers); // keys + values per layer
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gradients reach a module swapped into a LinearSlot, match finite differences, and leak nothing', () => {
    const [slotName, slot] = [...model.linearModules()][0];
    const r = 2;
    const a = tf.variable(tf.randomNormal([slot.module.inFeatures, r], 0, 0.3, 'float32', 1), true, `${slotName}.A`);
    const b = tf.variable(tf.randomNormal([r, slot.module.outFeatures], 0, 0.3, 'float32', 2), true, `${slotName}.B`);
    const base = slot.module;
    slot.module = new TestAdapter(base, a, b);
    const input = ids([prompt.slice(0, 6)]);
    const targets = tf.tensor1d(prompt.slice(1, 7), 'int32');
    const weights = tf.tensor1d([1, 1, 1, 0, 1, 1]);
    const loss = () =>
      tf.tidy(() => {
        const logits = model.forward(input).reshape([6, V]);
        return tf.div(tf.losses.softmaxCrossEntropy(tf.oneHot(targets, V), logits, weights, tf.Reduction.SUM), 5) as tf.Scalar;
      });
    try {
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(loss, [a, b]);
      expect(Object.keys(grads).sort()).toEqual([a.name, b.name].sort());
      const gB = grads[b.name].arraySync() as number[][];
      expect(gB.flat().some((g) => Math.abs(g) > 1e-6)).toBe(true);
      // Central difference on one entry of B.
      const eps = 1e-2;
      const setB = (w: number[][]) => tf.tidy(() => b.assign(tf.tensor2d(w)));
      const bump = (delta: number) => {
        const w = b.arraySync() as number[][];
        w[0][0] += delta;
        setB(w);
        const l = loss();
        const v = l.dataSync()[0];
        l.dispose();
        w[0][0] -= delta;
        setB(w);
        return v;
      };
      const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
      expect(Math.abs(numeric - gB[0][0])).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
      value.dispose();
      Object.values(grads).forEach((g) => g.dispose());
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      slot.module = base;
      a.dispose();
      b.dispose();
      input.dispose();
      targets.dispose();
      weights.dispose();
    }
  });
});
