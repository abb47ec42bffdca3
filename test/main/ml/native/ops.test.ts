/**
 * The fused native ops against their composite versions (the oracle), forward and backward, on
 * random shapes: odd sizes, batch dims, grouped-query ratios, masks, past keys, zero-size. Then
 * central finite differences of the native gradients themselves.
 *
 * nativeOps runs the composite on any backend but `native`, so running the same code on `cpu`
 * gives the reference.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { setNativeThreads } from '../../../../src/main/ml/native/index';
import { nativeOps } from '../../../../src/main/ml/native/ops';
import { compareBackends, compareWithGrads, input, native, randoms, runOn, setupNative, size } from './helpers';

/** A causal additive mask [mb, 1, T, Tk] with `past` earlier keys, some keys padded out per batch. */
function causalMask(mb: number, T: number, Tk: number, padFirst: number[] = []): { shape: number[]; values: Float32Array } {
  const values = new Float32Array(mb * T * Tk);
  const past = Tk - T;
  for (let b = 0; b < mb; b++) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < Tk; j++) {
        const padded = j < (padFirst[b] ?? 0) && j !== past + t; // never mask a whole row
        values[(b * T + t) * Tk + j] = j <= past + t && !padded ? 0 : -1e9;
      }
    }
  }
  return { shape: [mb, 1, T, Tk], values };
}

describe.skipIf(!native.ok)('native fused ops vs composite', () => {
  beforeAll(setupNative);

  it('rmsNorm: odd widths, batch dims, gradients for x and weight', async () => {
    for (const shape of [[2, 5, 24], [7, 33], [1, 1, 3], [70, 577]]) {
      const d = shape[shape.length - 1];
      await compareWithGrads((x, w) => nativeOps.rmsNorm(x, w, 1e-5), [input(shape, 1, -2, 2), input([d], 2, 0.5, 1.5)], `rmsNorm [${shape}]`);
    }
  });

  it('layerNorm: gradients for x, weight and bias', async () => {
    for (const shape of [[2, 5, 24], [7, 33], [129, 65]]) {
      const d = shape[shape.length - 1];
      await compareWithGrads(
        (x, w, b) => nativeOps.layerNorm(x, w, b, 1e-5),
        [input(shape, 3, -2, 2), input([d], 4, 0.5, 1.5), input([d], 5)],
        `layerNorm [${shape}]`,
      );
    }
  });

  it('rope: per-batch and shared tables, gradient for x', async () => {
    for (const [B, H, T, hd, cb] of [[2, 3, 5, 8, 2], [2, 3, 5, 8, 1], [1, 9, 17, 64, 1], [3, 1, 1, 2, 3]]) {
      const cos = input([cb, T, hd], 6);
      const sin = input([cb, T, hd], 7);
      await compareWithGrads(
        (x) => nativeOps.rope(x, tf.tensor(cos.values, cos.shape), tf.tensor(sin.values, sin.shape)),
        [input([B, H, T, hd], 8)],
        `rope [${B}, ${H}, ${T}, ${hd}] cos batch ${cb}`,
      );
    }
  });

  describe('attention', () => {
    const cases: { B: number; nH: number; nKV: number; T: number; Tk: number; hd: number; mask: 'batch' | 'shared' | 'none' }[] = [
      { B: 2, nH: 4, nKV: 2, T: 5, Tk: 5, hd: 8, mask: 'batch' }, // GQA 2
      { B: 2, nH: 4, nKV: 4, T: 5, Tk: 7, hd: 8, mask: 'batch' }, // MHA, 2 past keys
      { B: 1, nH: 6, nKV: 1, T: 9, Tk: 9, hd: 4, mask: 'shared' }, // MQA
      { B: 2, nH: 9, nKV: 3, T: 1, Tk: 6, hd: 16, mask: 'none' }, // decode step
      { B: 3, nH: 3, nKV: 3, T: 17, Tk: 17, hd: 6, mask: 'none' },
      { B: 2, nH: 9, nKV: 3, T: 64, Tk: 64, hd: 64, mask: 'batch' }, // SmolLM2's head layout
      { B: 2, nH: 4, nKV: 2, T: 150, Tk: 150, hd: 8, mask: 'batch' }, // causal blocks skip masked keys
      { B: 1, nH: 2, nKV: 1, T: 130, Tk: 140, hd: 4, mask: 'shared' },
    ];
    for (const c of cases) {
      it(`B ${c.B}, ${c.nH}/${c.nKV} heads, T ${c.T}, Tk ${c.Tk}, hd ${c.hd}, mask ${c.mask}: forward and gradients`, async () => {
        const mask = c.mask === 'none' ? null : causalMask(c.mask === 'batch' ? c.B : 1, c.T, c.Tk, c.mask === 'batch' ? [0, 2, 1] : []);
        await compareWithGrads(
          (q, k, v) => nativeOps.attention(q, k, v, mask ? tf.tensor(mask.values, mask.shape) : null, 1 / Math.sqrt(c.hd)),
          [input([c.B, c.nH, c.T, c.hd], 9), input([c.B, c.nKV, c.Tk, c.hd], 10), input([c.B, c.nKV, c.Tk, c.hd], 11)],
          `attention ${JSON.stringify(c)}`,
        );
      });
    }
  });

  it('loraLinear: with and without bias and dropout input, gradients for x, xLora, A and B', async () => {
    for (const [lead, inF, outF, r] of [[[2, 5], 24, 17, 4], [[33], 64, 192, 8], [[1], 3, 2, 1]] as [number[], number, number, number][]) {
      const w = input([outF, inF], 60);
      const bias = input([outF], 61);
      const W = () => tf.tensor(w.values, w.shape);
      await compareWithGrads(
        (x, a, b) => nativeOps.loraLinear(x, W(), tf.tensor(bias.values, bias.shape), a, b, 2),
        [input([...lead, inF], 62), input([r, inF], 63), input([outF, r], 64)],
        `loraLinear [${lead}, ${inF}] → ${outF}, r ${r}`,
      );
      await compareWithGrads(
        (x, xl, a, b) => nativeOps.loraLinear(x, W(), null, a, b, 0.5, xl),
        [input([...lead, inF], 65), input([...lead, inF], 66), input([r, inF], 67), input([outF, r], 68)],
        `loraLinear with a dropout input [${lead}, ${inF}] → ${outF}, r ${r}`,
      );
    }
  });

  it('swiglu and gelu with gradients', async () => {
    for (const shape of [[3, 17], [2, 4, 1536], [1]]) {
      await compareWithGrads((g, u) => nativeOps.swiglu(g, u), [input(shape, 12, -6, 6), input(shape, 13, -2, 2)], `swiglu [${shape}]`);
      await compareWithGrads((x) => nativeOps.gelu(x), [input(shape, 14, -6, 6)], `gelu [${shape}]`);
    }
  });

  it('crossEntropy: weighted rows, a zero-weight row with any target, gradient for the logits', async () => {
    for (const [N, V] of [[7, 33], [4, 1000], [1, 2]]) {
      const targets = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V);
      const weights = Float32Array.from({ length: N }, (_, i) => (i === 1 ? 0 : 0.5 + (i % 3) * 0.25));
      const logits = input([N, V], 15, -8, 8);
      // targets and weights are made outside the differentiated function, as a trainer does.
      await compareBackends(() => {
        const l = tf.tensor(logits.values, logits.shape);
        const t = tf.tensor(targets, [N], 'int32');
        const w = tf.tensor(weights, [N]);
        const f = (x: tf.Tensor) => nativeOps.crossEntropy(x, t, w);
        const [g] = tf.grads(f)([l], tf.scalar(0.7));
        return [f(l), g];
      }, `crossEntropy [${N}, ${V}]`);
    }
  });

  it('crossEntropy names a row whose target is outside the vocabulary', async () => {
    await tf.setBackend('native');
    const logits = tf.zeros([3, 5]);
    expect(() => nativeOps.crossEntropy(logits, tf.tensor([1, 7, 2], [3], 'int32'), tf.ones([3]))).toThrow(/target 7 of row 1 is outside the vocabulary \[0, 5\)/);
    logits.dispose();
  });

  it('runs fused on the native backend (none of the composite kernels run)', async () => {
    await tf.setBackend('native');
    const mask = causalMask(1, 4, 4);
    const info = await tf.profile(() =>
      tf.tidy(() => {
        const q = tf.tensor(randoms(32, 1), [1, 2, 4, 4]);
        const x = tf.tensor(randoms(12, 2), [3, 4]);
        nativeOps.attention(q, q, q, tf.tensor(mask.values, mask.shape), 0.5);
        nativeOps.rmsNorm(x, tf.ones([4]), 1e-5);
        nativeOps.swiglu(x, x);
        nativeOps.crossEntropy(x, tf.tensor([0, 1, 2], [3], 'int32'), tf.ones([3]));
      }),
    );
    const kernels = new Set(info.kernelNames);
    for (const composite of ['Softmax', 'BatchMatMul', 'Rsqrt', 'Sigmoid', 'Max', 'GatherV2']) expect(kernels).not.toContain(composite);
  });

  it('zero-size inputs fall back to the composite', async () => {
    await compareBackends(() => nativeOps.rmsNorm(tf.zeros([0, 4]), tf.ones([4]), 1e-5), 'rmsNorm empty');
    await compareBackends(() => nativeOps.swiglu(tf.zeros([0, 4]), tf.zeros([0, 4])), 'swiglu empty');
  });

  it('gives the same bits with 1 and 2 threads, forward and backward', async () => {
    const mask = causalMask(2, 33, 33);
    const run = () =>
      runOn('native', () => {
        const [x, w, q, k, v] = [input([2, 33, 64], 50), input([64], 51), input([2, 6, 33, 16], 52), input([2, 2, 33, 16], 53), input([2, 2, 33, 16], 54)].map((i) =>
          tf.tensor(i.values, i.shape),
        );
        const m = tf.tensor(mask.values, mask.shape);
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
          tf.add(tf.sum(tf.square(nativeOps.rmsNorm(a, b, 1e-5))), tf.sum(tf.square(nativeOps.attention(c, d, e, m, 0.25))));
        return [f(x, w, q, k, v), ...tf.grads(f)([x, w, q, k, v])];
      });
    const two = await run();
    setNativeThreads(1);
    try {
      const one = await run();
      one.forEach((o, i) => expect(Buffer.from(o.values.buffer, o.values.byteOffset, o.values.byteLength).equals(Buffer.from(two[i].values.buffer, two[i].values.byteOffset, two[i].values.byteLength))).toBe(true));
    } finally {
      setNativeThreads(0);
    }
  });

  it('keeps no tensors across forward and backward (tf.memory)', async () => {
    await tf.setBackend('native');
    const mask = causalMask(2, 5, 5);
    const run = () => {
      const [x, w, q, k, v, logits] = [input([2, 5, 8], 16), input([8], 17), input([2, 4, 5, 8], 18), input([2, 2, 5, 8], 19), input([2, 2, 5, 8], 20), input([10, 11], 21)].map((i) =>
        tf.tensor(i.values, i.shape),
      );
      const m = tf.tensor(mask.values, mask.shape);
      const targets = tf.tensor(Int32Array.from({ length: 10 }, (_, i) => i), [10], 'int32');
      const weights = tf.ones([10]);
      const loss = () =>
        tf.add(
          tf.add(tf.sum(nativeOps.rmsNorm(x, w, 1e-5)), tf.sum(nativeOps.attention(q, k, v, m, 0.3))),
          nativeOps.crossEntropy(logits, targets, weights),
        ) as tf.Scalar;
      const { value, grads } = tf.valueAndGrads(loss)([x, w, q, k, v, logits]);
      tf.dispose([value, ...grads, x, w, q, k, v, logits, m, targets, weights]);
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/**
 * Central differences of L = Σ f(x)·r with r fixed random, for a few coordinates of each input,
 * against the native gradient. Float32 inputs, so h is large-ish and the tolerance loose (5e-3).
 */
describe.skipIf(!native.ok)('native fused ops: finite differences', () => {
  beforeAll(setupNative);

  async function checkFiniteDifferences(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: { shape: number[]; values: Float32Array }[], what: string) {
    await tf.setBackend('native');
    const outShape = tf.tidy(() => f(...inputs.map((x) => tf.tensor(x.values, x.shape))).shape);
    const r = randoms(size(outShape), 77);
    const lossAt = (values: Float32Array[]) =>
      tf.tidy(() => tf.sum(tf.mul(f(...values.map((v, i) => tf.tensor(v, inputs[i].shape))), tf.tensor(r, outShape))).dataSync()[0]);
    const grads = tf.tidy(() => {
      const xs = inputs.map((x) => tf.tensor(x.values, x.shape));
      return tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), tf.tensor(r, outShape))))(xs).map((g) => g.dataSync());
    });
    inputs.forEach((x, which) => {
      for (let probe = 0; probe < 6; probe++) {
        const i = (probe * 7919 + which * 31) % x.values.length;
        const h = 1e-2 * Math.max(1, Math.abs(x.values[i]));
        const plus = inputs.map((y) => y.values.slice());
        const minus = inputs.map((y) => y.values.slice());
        plus[which][i] += h;
        minus[which][i] -= h;
        const numeric = (lossAt(plus) - lossAt(minus)) / (plus[which][i] - minus[which][i]);
        const analytic = grads[which][i];
        const scale = Math.max(1, Math.abs(numeric));
        expect(Math.abs(numeric - analytic) / scale, `${what}: d/dx${which}[${i}] numeric ${numeric} analytic ${analytic}`).toBeLessThan(5e-3);
      }
    });
  }

  it('rmsNorm, layerNorm, rope, attention, swiglu, gelu, crossEntropy', async () => {
    const cos = input([1, 4, 6], 30);
    const sin = input([1, 4, 6], 31);
    const mask = causalMask(1, 4, 4);
    await checkFiniteDifferences((x, w) => nativeOps.rmsNorm(x, w, 1e-5), [input([3, 9], 32), input([9], 33, 0.5, 1.5)], 'rmsNorm');
    await checkFiniteDifferences((x, w, b) => nativeOps.layerNorm(x, w, b, 1e-5), [input([3, 9], 34), input([9], 35), input([9], 36)], 'layerNorm');
    await checkFiniteDifferences((x) => nativeOps.rope(x, tf.tensor(cos.values, cos.shape), tf.tensor(sin.values, sin.shape)), [input([1, 2, 4, 6], 37)], 'rope');
    await checkFiniteDifferences(
      (q, k, v) => nativeOps.attention(q, k, v, tf.tensor(mask.values, mask.shape), 0.5),
      [input([1, 4, 4, 6], 38), input([1, 2, 4, 6], 39), input([1, 2, 4, 6], 40)],
      'attention',
    );
    await checkFiniteDifferences((g, u) => nativeOps.swiglu(g, u), [input([2, 7], 41, -3, 3), input([2, 7], 42)], 'swiglu');
    const w = tf.tensor(randoms(5 * 6, 45), [5, 6]);
    await checkFiniteDifferences((x, xl, a, b) => nativeOps.loraLinear(x, w, null, a, b, 1.5, xl), [input([3, 6], 46), input([3, 6], 47), input([2, 6], 48), input([5, 2], 49)], 'loraLinear');
    w.dispose();
    await checkFiniteDifferences((x) => nativeOps.gelu(x), [input([2, 7], 43, -3, 3)], 'gelu');
    const targets = tf.tensor([3, 0, 5], [3], 'int32');
    const weights = tf.tensor([1, 0.5, 2]);
    await checkFiniteDifferences(
      (l) => tf.reshape(nativeOps.crossEntropy(l, targets, weights), [1]),
      [input([3, 8], 44, -3, 3)],
      'crossEntropy',
    );
    tf.dispose([targets, weights]);
  });

});
