/**
 * ops/fused.ts (one tape node per op, gradients written out) against the composite ops (plain
 * tfjs, gradients derived by tfjs) on cpu, forward and backward for every input, on odd shapes,
 * batch dims, GQA ratios, masks and zero-size; then the same on the wasm backend, where the
 * products run as ops/matmul.ts's XNNPACK kernel. Relative 1e-5 (test/main/ml/native/helpers.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { compositeOps, type Ops } from '../../../../src/main/ml/ops';
import { fusedOps } from '../../../../src/main/ml/ops/fused';
import { compareOpsWithGrads, expectClose, input, runOn, setupWasm, type Input } from './helpers';

/** A causal additive mask [mb, 1, T, Tk] with `past` earlier keys and the first keys of some rows padded out. */
function causalMask(mb: number, T: number, Tk: number, padFirst: number[] = []): Input {
  const values = new Float32Array(mb * T * Tk);
  const past = Tk - T;
  for (let b = 0; b < mb; b++) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < Tk; j++) {
        const padded = j < (padFirst[b] ?? 0) && j !== past + t; // never a fully masked row
        values[(b * T + t) * Tk + j] = j <= past + t && !padded ? 0 : -1e9;
      }
    }
  }
  return { shape: [mb, 1, T, Tk], values };
}

const constant = (x: Input) => tf.tensor(x.values, x.shape);

/** Every case runs on cpu (fused vs composite) and on wasm (fused on wasm vs composite on cpu). */
describe.each([['cpu'], ['wasm']])('fused ops on %s vs composite on cpu', (backend) => {
  beforeAll(setupWasm);
  const on: [string, Ops] = [backend, fusedOps];
  const check = (f: (o: Ops, ...xs: tf.Tensor[]) => tf.Tensor, inputs: Input[], what: string) => compareOpsWithGrads(f, inputs, what, on);

  it('rmsNorm and layerNorm: odd widths, batch dims, gradients for x, weight and bias', async () => {
    for (const shape of [[2, 5, 24], [7, 33], [1, 1, 3], [3, 70, 577]]) {
      const d = shape[shape.length - 1];
      await check((o, x, w) => o.rmsNorm(x, w, 1e-5), [input(shape, 1, -2, 2), input([d], 2, 0.5, 1.5)], `rmsNorm [${shape}]`);
      await check((o, x, w, b) => o.layerNorm(x, w, b, 1e-5), [input(shape, 3, -2, 2), input([d], 4, 0.5, 1.5), input([d], 5)], `layerNorm [${shape}]`);
    }
  });

  it('rope: per-batch and shared tables, gradient for x', async () => {
    for (const [B, H, T, hd, cb] of [[2, 3, 5, 8, 2], [2, 3, 5, 8, 1], [1, 9, 17, 64, 1], [3, 1, 1, 2, 3]]) {
      const cos = input([cb, T, hd], 6);
      const sin = input([cb, T, hd], 7);
      await check((o, x) => o.rope(x, constant(cos), constant(sin)), [input([B, H, T, hd], 8)], `rope [${B}, ${H}, ${T}, ${hd}] tables ${cb}`);
    }
  });

  it('attention: GQA ratios, causal and padding masks, past keys, no mask; gradients for q, k, v', async () => {
    const cases: [number, number, number, number, number, number, boolean][] = [
      // B, nH, nKV, T, Tk, hd, per-batch mask
      [2, 6, 2, 5, 5, 8, true],
      [1, 9, 3, 17, 17, 64, false],
      [2, 4, 4, 3, 11, 16, true], // past keys
      [3, 2, 1, 1, 7, 8, false], // one new token
      [1, 3, 1, 33, 33, 5, false],
    ];
    for (const [B, nH, nKV, T, Tk, hd, perBatch] of cases) {
      const mask = causalMask(perBatch ? B : 1, T, Tk, perBatch ? [0, 2, 1] : []);
      const what = `attention B${B} nH${nH} nKV${nKV} T${T} Tk${Tk} hd${hd}`;
      await check((o, q, k, v) => o.attention(q, k, v, constant(mask), 1 / Math.sqrt(hd)), [input([B, nH, T, hd], 9), input([B, nKV, Tk, hd], 10), input([B, nKV, Tk, hd], 11)], what);
    }
    await check((o, q, k, v) => o.attention(q, k, v, null, 0.3), [input([2, 4, 6, 8], 12), input([2, 2, 6, 8], 13), input([2, 2, 6, 8], 14)], 'attention without mask');
  });

  it('swiglu and gelu: gradients for every input', async () => {
    for (const shape of [[2, 5, 24], [7, 33], [1, 1]]) {
      await check((o, g, u) => o.swiglu(g, u), [input(shape, 15, -4, 4), input(shape, 16, -2, 2)], `swiglu [${shape}]`);
      await check((o, x) => o.gelu(x), [input(shape, 17, -4, 4)], `gelu [${shape}]`);
    }
  });

  it('linear and the fused LoRA projection (bias, dropout input, leading dims): gradients for x, xLora, A, B', async () => {
    // a plain-tensor weight is frozen: the gradient is for x alone
    const [W0, b0] = [input([5, 7], 19), input([5], 20)];
    await check((o, x) => o.linear(x, constant(W0), constant(b0)), [input([2, 3, 7], 18)], 'linear, frozen weight and bias');
    // trainable weight and bias (tf.Variable): gradients for all three
    const trained = (o: Ops) => () => {
      const vars = [input([2, 3, 7], 18), W0, b0].map((v) => tf.variable(tf.tensor(v.values, v.shape)));
      const dy = constant(input([2, 3, 5], 21));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(o.linear(vars[0], vars[1], vars[2]), dy)) as tf.Scalar, vars);
      const out = [value, ...vars.map((v) => grads[v.name])];
      tf.dispose(vars);
      return out;
    };
    const want = await runOn('cpu', trained(compositeOps));
    const got = await runOn(backend, trained(fusedOps));
    got.forEach((g, i) => expectClose(g, want[i], 1e-5, `linear with trainable weight [${i}]`));
    // The composite reference of loraLinear: what lora/layer.ts composes when Ops has none.
    const lora = (o: Ops, x: tf.Tensor, xl: tf.Tensor | null, w: tf.Tensor, bias: tf.Tensor | null, a: tf.Tensor, b: tf.Tensor, s: number) =>
      o.loraLinear ? o.loraLinear(x, w, bias, a, b, s, xl ?? undefined) : tf.add(o.linear(x, w, bias), tf.mul(o.linear(o.linear(xl ?? x, a), b), s));
    expect(compositeOps.loraLinear).toBeUndefined();
    for (const [lead, inF, outF, r] of [[[2, 5], 24, 17, 4], [[7], 33, 9, 1], [[1, 1], 3, 3, 8]] as [number[], number, number, number][]) {
      const W = input([outF, inF], 21);
      const bias = input([outF], 22);
      await check((o, x, a, b) => lora(o, x, null, constant(W), constant(bias), a, b, 2), [input([...lead, inF], 23), input([r, inF], 24), input([outF, r], 25)], `loraLinear [${lead}, ${inF}] → ${outF}, r ${r}`);
      await check((o, x, xl, a, b) => lora(o, x, xl, constant(W), null, a, b, 0.5), [input([...lead, inF], 26), input([...lead, inF], 27), input([r, inF], 28), input([outF, r], 29)], `loraLinear with a dropout input [${lead}, ${inF}]`);
    }
  });

  it('zero-size inputs give the composite results', async () => {
    await check((o, x, w) => o.rmsNorm(x, w, 1e-5), [input([0, 8], 30), input([8], 31)], 'rmsNorm empty');
    await check((o, g, u) => o.swiglu(g, u), [input([0, 4], 32), input([0, 4], 33)], 'swiglu empty');
  });

  it('frees what it saved: no tensor outlives a training step', async () => {
    const x = input([2, 5, 16], 34);
    const got = await runOn(backend, () => {
      const before = tf.memory().numTensors;
      const xs = tf.tensor(x.values, x.shape);
      const w = tf.tidy(() => tf.variable(tf.ones([16]))); // tidy frees the initial value, keeps the variable
      for (let i = 0; i < 3; i++) {
        const { value, grads } = tf.variableGrads(() => tf.sum(fusedOps.swiglu(fusedOps.rmsNorm(xs, w, 1e-5), xs)) as tf.Scalar, [w]);
        tf.dispose([value, ...Object.values(grads)]);
      }
      tf.dispose([xs, w]);
      return tf.scalar(tf.memory().numTensors - before);
    });
    expect(got[0].values[0]).toBe(0);
  });
});
