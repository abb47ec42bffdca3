import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BACKEND_LADDER, probeBackends, selectBackend } from '../../../src/main/ml/backends';
import { loadModel } from '../../../src/main/ml/loader';
import { ops } from '../../../src/main/ml/ops';
import { GOLDEN_MODELS, LLAMA_DIR } from './helpers';

/** Loss gradient w.r.t. a bias added after every LoRA-targetable module (what training needs from a backend). */
function adapterGradients(dir: string): number[] {
  const { model } = loadModel(dir);
  const slots = [...model.linearModules().values()];
  const biases = slots.map((s) => tf.variable(tf.zeros([s.module.outFeatures])));
  const bases = slots.map((s) => s.module);
  slots.forEach((s, i) => {
    const base = bases[i];
    s.module = { name: base.name, inFeatures: base.inFeatures, outFeatures: base.outFeatures, forward: (x) => tf.add(base.forward(x), biases[i]) };
  });
  const ids = tf.tensor2d([[3, 17, 42, 8, 5], [0, 0, 9, 61, 23]], [2, 5], 'int32');
  const mask = tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [2, 5], 'int32');
  const targets = tf.tensor1d([17, 42, 8, 5, 0, 9, 61, 23], 'int32');
  const weights = tf.tensor1d([1, 1, 1, 1, 0, 1, 1, 1]);
  const { value, grads } = tf.variableGrads(
    () => tf.tidy(() => ops().crossEntropy(model.forward(ids, { attentionMask: mask }).slice([0, 0, 0], [2, 4, -1]).reshape([8, -1]), targets, weights)),
    biases,
  );
  const flat = biases.flatMap((b) => Array.from(grads[b.name].dataSync()));
  tf.dispose([value, ...Object.values(grads), ...biases, ids, mask, targets, weights]);
  model.dispose();
  return flat;
}

describe('backend ladder', () => {
  it('lists every rung in order, each available or with a reason', async () => {
    const list = await probeBackends();
    expect(list.map((b) => b.name)).toEqual([...BACKEND_LADDER]);
    for (const b of list) {
      expect(b.label.length).toBeGreaterThan(0);
      if (!b.available) expect(b.reason).toMatch(/\S/);
    }
    expect(list.find((b) => b.name === 'cpu')!.available).toBe(true);
    expect(list.find((b) => b.name === 'wasm')!.available).toBe(true);
  });

  it('explains a missing optional package by name', async () => {
    const list = await probeBackends();
    for (const [name, pkg] of [['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'], ['tensorflow', '@tensorflow/tfjs-node']]) {
      const b = list.find((x) => x.name === name)!;
      if (!b.available) expect(b.reason).toContain(pkg.replace('-gpu', ''));
    }
  });

  it('does not change the active backend while probing', async () => {
    await selectBackend('cpu');
    await probeBackends();
    expect(tf.getBackend()).toBe('cpu');
  });

  it('selects the first available rung and reports what it skipped', async () => {
    const list = await probeBackends();
    const first = list.find((b) => b.available)!;
    const sel = await selectBackend();
    expect(sel.name).toBe(first.name);
    expect(sel.skipped.map((s) => s.name)).toEqual(list.slice(0, list.indexOf(first)).map((b) => b.name));
    await selectBackend('cpu');
  });

  it('refuses an unknown or unavailable forced backend', async () => {
    await expect(selectBackend('metal')).rejects.toThrow(/unknown backend "metal" \(known: tensorflow-gpu, tensorflow, native, wasm, cpu\)/);
    const unavailable = (await probeBackends()).find((b) => !b.available);
    if (unavailable) await expect(selectBackend(unavailable.name)).rejects.toThrow(unavailable.reason);
  });

  it('wasm computes the same logits as cpu', async () => {
    await selectBackend('cpu');
    const cpu = loadModel(LLAMA_DIR).model;
    const ids = [[1, 15043, 3186, 29892]];
    const onCpu = tf.tidy(() => cpu.forward(tf.tensor2d(ids, [1, 4], 'int32')).dataSync());
    cpu.dispose();
    const sel = await selectBackend('wasm');
    expect(sel.tfBackend).toBe('wasm');
    const wasm = loadModel(LLAMA_DIR).model;
    const onWasm = tf.tidy(() => wasm.forward(tf.tensor2d(ids, [1, 4], 'int32')).dataSync());
    wasm.dispose();
    let maxDiff = 0;
    onCpu.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - onWasm[i]))));
    expect(maxDiff).toBeLessThan(1e-5);
    await selectBackend('cpu');
  });

  it.each([['llama3-gqa'], ['qwen2'], ['gpt2-old-names']])('wasm computes the training gradients of %s like cpu', async (name) => {
    const dir = `${GOLDEN_MODELS}/tiny-${name}`;
    await selectBackend('cpu');
    const onCpu = adapterGradients(dir);
    await selectBackend('wasm');
    const onWasm = adapterGradients(dir);
    await selectBackend('cpu');
    expect(onCpu.some((g) => Math.abs(g) > 1e-4)).toBe(true);
    onCpu.forEach((g, i) => expect(Math.abs(g - onWasm[i])).toBeLessThan(1e-4 + 1e-4 * Math.abs(g)));
  });
});
