import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LoraAdapter } from '../../../../src/main/ml/lora/adapter';
import { LoraMergeError } from '../../../../src/main/ml/lora/layer';
import { selectModules, specProblems, trainableParamCount } from '../../../../src/main/ml/lora/spec';
import { makeBatch } from '../../../../src/main/ml/train/batches';
import { batchLossSum } from '../../../../src/main/ml/train/loss';
import { Rng } from '../../../../src/main/ml/train/rng';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import { TINY_GPT2, TINY_LLAMA, load, logitsOf, maxAbsDiff, spec, useCpu } from './helpers';

// Real fixtures (32k / 50k vocabularies) on the pure-JS backend: slow when the machine is busy.
vi.setConfig({ testTimeout: 180_000 });
beforeAll(useCpu);

const IDS = [
  [1, 15, 300, 42, 7, 99, 5, 1000],
  [1, 88, 12, 640, 3, 250, 17, 2],
];

/** Puts random (non-zero) values in every B so the adapter changes the output. */
function randomizeB(adapter: LoraAdapter, rng: Rng, std = 0.5): void {
  for (const l of adapter.layers) l.loraB.assign(tf.tensor(rng.fillNormal(new Float32Array(l.loraB.size), 0, std), l.loraB.shape));
}

function lossFn(model: CausalLM, ids = IDS) {
  const batch = makeBatch(
    ids.map((ids) => ({ ids, trainMask: ids.map((_, i) => (i >= 3 ? 1 : 0)) })),
    0,
    true,
  );
  return { batch, f: () => tf.div(batchLossSum(model, batch), batch.trainedTokens) as tf.Scalar };
}

describe.each([
  ['tiny-random-llama', TINY_LLAMA, ['q_proj', 'v_proj', 'down_proj']],
  ['tiny-gpt2', TINY_GPT2, ['c_attn', 'attn.c_proj', 'c_fc']],
])('LoRA on %s', (_name, dir, targets) => {
  it('gradients of A and B equal finite differences', () => {
    const model = load(dir);
    const adapter = LoraAdapter.attach(model, spec({ targets, r: 2, alpha: 4 }), Rng.fromSeed(1));
    randomizeB(adapter, Rng.fromSeed(2));
    const { f } = lossFn(model, [IDS[0].slice(0, 6)]);
    const all = adapter.variables();
    const vars = [all[0], all[1], all[all.length - 2], all[all.length - 1]]; // A, B of the first and last module
    const { value, grads } = tf.variableGrads(f, vars);
    value.dispose();
    const rng = Rng.fromSeed(3);
    const h = 2e-3; // GPT-2 fixture LayerNorms over 2 features: curvature is high, so a small step
    let checked = 0;
    for (const v of vars) {
      const g = grads[v.name].dataSync();
      for (let k = 0; k < 2; k++) {
        const i = rng.int(v.size);
        const orig = v.dataSync().slice();
        const at = (delta: number) => {
          const x = orig.slice();
          x[i] += delta;
          v.assign(tf.tensor(x, v.shape));
          return tf.tidy(() => f().dataSync()[0]);
        };
        // five-point stencil: O(h⁴) truncation, so float32 rounding dominates the error
        const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
        v.assign(tf.tensor(orig, v.shape));
        expect(Math.abs(fd - g[i])).toBeLessThan(2e-3 + 2e-2 * Math.abs(g[i]));
        checked++;
      }
    }
    expect(checked).toBe(vars.length * 2);
    // A gets a real gradient (B ≠ 0), so the check above is not comparing zeros.
    expect(Math.max(...vars.map((v) => tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0])))).toBeGreaterThan(1e-6);
    tf.dispose(Object.values(grads));
    adapter.detach();
    model.dispose();
  });

  it('base weights are frozen: only lora_A and lora_B are variables and receive gradients', () => {
    const model = load(dir);
    const adapter = LoraAdapter.attach(model, spec({ targets }), Rng.fromSeed(1));
    randomizeB(adapter, Rng.fromSeed(2));
    for (const w of model.weights.all()) expect(w.value instanceof tf.Variable).toBe(false);
    const { f } = lossFn(model);
    // Without a variable list, tfjs differentiates every trainable variable it knows.
    const { value, grads } = tf.variableGrads(f);
    value.dispose();
    const loraNames = new Set(adapter.variables().map((v) => v.name));
    const gradNames = Object.keys(grads).filter((n) => !n.startsWith('__'));
    expect(new Set(gradNames.filter((n) => loraNames.has(n)))).toEqual(loraNames);
    const baseIds = new Set(model.weights.all().map((w) => w.value.id));
    for (const n of gradNames) expect(baseIds.has((tf.engine().registeredVariables[n] as tf.Variable).id)).toBe(false);
    tf.dispose(Object.values(grads));
    adapter.detach();
    model.dispose();
  });

  it('B = 0 leaves logits unchanged; merged equals unmerged; detach restores the base', () => {
    const model = load(dir);
    const base = logitsOf(model, IDS);
    const adapter = LoraAdapter.attach(model, spec({ targets, r: 4, alpha: 16 }), Rng.fromSeed(5));
    expect(maxAbsDiff(logitsOf(model, IDS), base)).toBe(0);
    randomizeB(adapter, Rng.fromSeed(6));
    const adapted = logitsOf(model, IDS);
    expect(maxAbsDiff(adapted, base)).toBeGreaterThan(1e-3);
    adapter.fuse();
    for (const slot of model.linearModules().values()) expect(slot.module).toBe(slot.base);
    expect(maxAbsDiff(logitsOf(model, IDS), adapted)).toBeLessThan(1e-4);
    model.dispose();

    const again = load(dir);
    const a2 = LoraAdapter.attach(again, spec({ targets }), Rng.fromSeed(5));
    randomizeB(a2, Rng.fromSeed(6));
    a2.detach();
    expect(maxAbsDiff(logitsOf(again, IDS), base)).toBe(0);
    again.dispose();
  });

  it('PiSSA at step 0 leaves logits unchanged, and detach restores W', () => {
    const model = load(dir);
    const base = logitsOf(model, IDS);
    const weightsBefore = [...model.linearModules().values()].map((s) => s.base.weight.value.dataSync().slice());
    const adapter = LoraAdapter.attach(model, spec({ targets, r: 1, alpha: 2, init: 'pissa' }), Rng.fromSeed(7));
    // the base weights now hold the residual
    const changed = [...model.linearModules().values()].some((s, i) => maxAbsDiff(s.base.weight.value.dataSync() as Float32Array, weightsBefore[i] as Float32Array) > 1e-6);
    expect(changed).toBe(true);
    expect(maxAbsDiff(logitsOf(model, IDS), base)).toBeLessThan(1e-4);
    adapter.detach();
    expect(maxAbsDiff(logitsOf(model, IDS), base)).toBeLessThan(1e-4);
    model.dispose();
  });
});

describe('module selection', () => {
  it('counts Σ r·(in+out) exactly, with rank_pattern and layers', () => {
    const model = load(TINY_LLAMA);
    const s = spec({ targets: ['q_proj', 'down_proj'], layers: [1], r: 4, rankPattern: { down_proj: 2 } });
    const selected = selectModules(s, model.linearModules(), model.dims.numLayers);
    expect(selected.map((m) => m.name)).toEqual(['model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj']);
    // q_proj 16→16 at r=4, down_proj 64→16 at r=2
    expect(trainableParamCount(selected)).toBe(4 * (16 + 16) + 2 * (64 + 16));
    const adapter = LoraAdapter.attach(model, s, Rng.fromSeed(1));
    expect(adapter.trainableParams()).toBe(4 * 32 + 2 * 80);
    expect(adapter.variables().reduce((n, v) => n + v.size, 0)).toBe(adapter.trainableParams());
    adapter.detach();
    model.dispose();
  });

  it('GPT-2 suffixes: c_proj takes both, attn.c_proj only attention', () => {
    const model = load(TINY_GPT2);
    const names = (targets: string[]) => selectModules(spec({ targets }), model.linearModules(), 2).map((m) => m.name);
    expect(names(['c_proj'])).toEqual(['transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_proj', 'transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_proj']);
    expect(names(['attn.c_proj'])).toEqual(['transformer.h.0.attn.c_proj', 'transformer.h.1.attn.c_proj']);
    model.dispose();
  });

  it('reports every problem of a bad spec at once', () => {
    const problems = specProblems(spec({ r: 0, alpha: -1, targets: ['q_proj', 'qkv'], layers: [0, 5] }), ['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj'], 2);
    expect(problems.join('\n')).toMatch(/rank must be a whole number ≥ 1, got 0/);
    expect(problems.join('\n')).toMatch(/alpha must be > 0/);
    expect(problems.join('\n')).toMatch(/unknown target module "qkv" \(this model has: q_proj\)/);
    expect(problems.join('\n')).toMatch(/layer 5 is out of range \(this model has layers 0-1\)/);
    expect(problems).toHaveLength(4);
  });

  it('rsLoRA scales by alpha/√r', () => {
    const model = load(TINY_LLAMA);
    const a = LoraAdapter.attach(model, spec({ r: 4, alpha: 8, rslora: true }), Rng.fromSeed(1));
    expect(a.layers[0].scale).toBeCloseTo(4);
    a.detach();
    const b = LoraAdapter.attach(model, spec({ r: 4, alpha: 8 }), Rng.fromSeed(1));
    expect(b.layers[0].scale).toBeCloseTo(2);
    b.detach();
    model.dispose();
  });

  it('default init: A within ±1/√in, B zero; gaussian: A with std 1/r', () => {
    const model = load(TINY_LLAMA);
    const a = LoraAdapter.attach(model, spec({ targets: ['down_proj'], r: 8 }), Rng.fromSeed(1));
    const A = a.layers[0].loraA.dataSync();
    const bound = 1 / Math.sqrt(64);
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    expect(a.layers[0].loraB.dataSync().every((x) => x === 0)).toBe(true);
    a.detach();
    const g = LoraAdapter.attach(model, spec({ targets: ['down_proj'], r: 8, init: 'gaussian' }), Rng.fromSeed(1));
    const G = [...g.layers.flatMap((l) => [...l.loraA.dataSync()])];
    const std = Math.sqrt(G.reduce((s, x) => s + x * x, 0) / G.length);
    expect(std).toBeGreaterThan(0.1);
    expect(std).toBeLessThan(0.15);
    g.detach();
    model.dispose();
  });

  it('fuse refuses non-finite results and leaves the base unchanged', () => {
    const model = load(TINY_LLAMA);
    const base = logitsOf(model, IDS);
    const adapter = LoraAdapter.attach(model, spec(), Rng.fromSeed(1));
    const l = adapter.layers[0];
    l.loraB.assign(tf.fill(l.loraB.shape, Infinity));
    expect(() => adapter.fuse()).toThrow(/NaN or Inf.*left unchanged/);
    expect(() => l.fuse()).toThrow(LoraMergeError);
    adapter.detach();
    expect(maxAbsDiff(logitsOf(model, IDS), base)).toBe(0);
    model.dispose();
  });

  it('leaks no tensors across attach/forward/detach', () => {
    const model = load(TINY_LLAMA);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const adapter = LoraAdapter.attach(model, spec({ dropout: 0.1 }), Rng.fromSeed(i));
      adapter.setTraining(Rng.fromSeed(9));
      logitsOf(model, IDS);
      adapter.detach();
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

export const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lora-test-'));
