import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../../src/main/ml/loader';
import { additiveAttentionMask, compositeOps, ops, positionIdsFor, setOps, type Ops } from '../../../../src/main/ml/ops';
import { MASKED } from '../../../../src/main/ml/ops/mask';
import { LLAMA_DIR } from '../helpers';

const close = (a: tf.Tensor, b: tf.Tensor, tol = 1e-5) => expect(tf.tidy(() => a.sub(b).abs().max().dataSync()[0])).toBeLessThan(tol);

describe('composite ops', () => {
  it('linear: x·Wᵀ + b over any leading shape', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
      const w = tf.randomNormal([5, 4], 0, 1, 'float32', 2);
      const b = tf.randomNormal([5], 0, 1, 'float32', 3);
      const y = compositeOps.linear(x, w, b);
      expect(y.shape).toEqual([2, 3, 5]);
      close(y, tf.add(tf.matMul(x.reshape([6, 4]), w.transpose()).reshape([2, 3, 5]), b));
    });
  });

  it('rmsNorm and layerNorm match their definitions', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([[1, 2, 3, 4], [-1, 0, 0, 5]]);
      const w = tf.tensor1d([1, 2, 0.5, -1]);
      const b = tf.tensor1d([0, 1, 0, 0]);
      const rms = (row: number[]) => Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + 1e-6);
      const want = [[1, 2, 3, 4], [-1, 0, 0, 5]].map((r) => r.map((v, i) => (v / rms(r)) * [1, 2, 0.5, -1][i]));
      close(compositeOps.rmsNorm(x, w, 1e-6), tf.tensor2d(want));
      const ln = (r: number[]) => {
        const m = r.reduce((s, v) => s + v, 0) / r.length;
        const sd = Math.sqrt(r.reduce((s, v) => s + (v - m) ** 2, 0) / r.length + 1e-5);
        return r.map((v, i) => ((v - m) / sd) * [1, 2, 0.5, -1][i] + [0, 1, 0, 0][i]);
      };
      close(compositeOps.layerNorm(x, w, b, 1e-5), tf.tensor2d([ln([1, 2, 3, 4]), ln([-1, 0, 0, 5])]));
    });
  });

  it('gelu is the tanh approximation; swiglu is silu(gate)·up', () => {
    tf.tidy(() => {
      const xs = [-3, -1, -0.1, 0, 0.5, 2];
      const g = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      close(compositeOps.gelu(tf.tensor1d(xs)), tf.tensor1d(xs.map(g)));
      const silu = (x: number) => x / (1 + Math.exp(-x));
      close(compositeOps.swiglu(tf.tensor1d(xs), tf.tensor1d(xs.map((_, i) => i))), tf.tensor1d(xs.map((x, i) => silu(x) * i)));
    });
  });

  it('rope rotates pairs (i, i + hd/2) and keeps the norm', () => {
    tf.tidy(() => {
      const x = tf.tensor4d([1, 2, 3, 4], [1, 1, 1, 4]); // pairs (1,3) and (2,4)
      const a = [0.3, 1.1];
      const cos = tf.tensor3d([Math.cos(a[0]), Math.cos(a[1]), Math.cos(a[0]), Math.cos(a[1])], [1, 1, 4]);
      const sin = tf.tensor3d([Math.sin(a[0]), Math.sin(a[1]), Math.sin(a[0]), Math.sin(a[1])], [1, 1, 4]);
      const y = compositeOps.rope(x, cos, sin).dataSync();
      const rot = (p: number, q: number, t: number) => [p * Math.cos(t) - q * Math.sin(t), q * Math.cos(t) + p * Math.sin(t)];
      const [y0, y2] = rot(1, 3, a[0]);
      const [y1, y3] = rot(2, 4, a[1]);
      [y0, y1, y2, y3].forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));
    });
  });

  it('attention with grouped KV heads equals attention with repeated KV heads', () => {
    tf.tidy(() => {
      const [B, nH, nKV, T, hd] = [2, 6, 2, 5, 4];
      const q = tf.randomNormal([B, nH, T, hd], 0, 1, 'float32', 4);
      const k = tf.randomNormal([B, nKV, T, hd], 0, 1, 'float32', 5);
      const v = tf.randomNormal([B, nKV, T, hd], 0, 1, 'float32', 6);
      const pad = tf.tensor2d([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], [2, 5], 'int32');
      const mask = additiveAttentionMask(pad, B, T, 0)!;
      const out = compositeOps.attention(q, k, v, mask, 0.5);
      const rep = (t: tf.Tensor) => tf.stack(Array.from({ length: nH }, (_, h) => t.slice([0, Math.floor(h / (nH / nKV))], [B, 1]).squeeze([1])), 1);
      const probs = tf.softmax(tf.add(tf.mul(tf.matMul(q, rep(k), false, true), 0.5), mask), -1);
      close(out, tf.matMul(probs, rep(v)));
    });
  });

  it('crossEntropy is the weighted sum of token NLLs, with gradients', () => {
    tf.tidy(() => {
      const logits = tf.tensor2d([[1, 2, 0.5], [0, 0, 3], [2, -1, 1]]);
      const targets = tf.tensor1d([1, 0, 2], 'int32');
      const weights = tf.tensor1d([1, 0.5, 0]);
      const nll = (row: number[], t: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[t];
      const want = nll([1, 2, 0.5], 1) + 0.5 * nll([0, 0, 3], 0);
      expect(compositeOps.crossEntropy(logits, targets, weights).dataSync()[0]).toBeCloseTo(want, 5);
      const g = tf.grad((l: tf.Tensor) => compositeOps.crossEntropy(l, targets, weights))(logits).arraySync() as number[][];
      const soft = (row: number[]) => row.map((v) => Math.exp(v) / row.reduce((s, u) => s + Math.exp(u), 0));
      expect(g[0][1]).toBeCloseTo(soft([1, 2, 0.5])[1] - 1, 5);
      expect(g[2]).toEqual([0, 0, 0]);
    });
  });
});

describe('composite crossEntropy (gradient written out)', () => {
  /** The plain tfjs formulation, every gradient derived by tfjs: Σ w·(logsumexp − Σ onehot·logits). */
  const plain = (l: tf.Tensor, t: tf.Tensor, w: tf.Tensor) =>
    tf.sum(tf.mul(tf.sub(tf.logSumExp(l, -1), tf.sum(tf.mul(tf.oneHot(t, l.shape[1] as number, 1, 0, 'float32'), l), -1)), w));

  it('value and gradient equal tfjs autodiff of the plain formula (odd sizes, zero weights, large logits)', () => {
    for (const [N, V, spread] of [[7, 13, 3], [1, 2, 1], [33, 257, 40], [5, 4096, 8]]) {
      tf.tidy(() => {
        const logits = tf.mul(tf.randomNormal([N, V], 0, 1, 'float32', N + V), spread);
        const targets = tf.tensor1d(Array.from({ length: N }, (_, i) => (i * 7919) % V), 'int32');
        const weights = tf.tensor1d(Array.from({ length: N }, (_, i) => (i % 3 === 0 ? 0 : 1 / (i + 1))));
        const dy = tf.scalar(0.7);
        const [gotV, wantV] = [compositeOps.crossEntropy(logits, targets, weights), plain(logits, targets, weights)];
        const got = tf.grad((l: tf.Tensor) => compositeOps.crossEntropy(l, targets, weights))(logits, dy);
        const want = tf.grad((l: tf.Tensor) => plain(l, targets, weights))(logits, dy);
        close(gotV, wantV, 1e-5 * Math.max(1, Math.abs(wantV.dataSync()[0])));
        close(got, want, 1e-6);
      });
    }
  });

  it('targets and weights made inside the differentiated function survive until the backward pass', () => {
    tf.tidy(() => {
      const logits = tf.randomNormal([4, 9], 0, 1, 'float32', 5);
      const f = (l: tf.Tensor) => compositeOps.crossEntropy(l, tf.tensor1d([1, 8, 0, 3], 'int32'), tf.tensor1d([1, 1, 0.5, 0]));
      const g = tf.grad(f)(logits);
      const want = tf.grad((l: tf.Tensor) => plain(l, tf.tensor1d([1, 8, 0, 3], 'int32'), tf.tensor1d([1, 1, 0.5, 0])))(logits);
      close(g, want, 1e-6);
    });
  });
});

describe('masks and positions', () => {
  it('causal + padding mask, and positions that skip padding', () => {
    tf.tidy(() => {
      const pad = tf.tensor2d([[0, 0, 1, 1], [1, 1, 1, 1]], [2, 4], 'int32');
      const m = (additiveAttentionMask(pad, 2, 4, 0)!.arraySync() as number[][][][]).map((b) => b.map((h) => h.map((r) => r.map((v) => v + 0)))); // -0 → 0
      expect(m[0][0][3]).toEqual([MASKED, MASKED, 0, 0]); // row 0, last query: pads masked
      expect(m[1][0][1]).toEqual([0, 0, MASKED, MASKED]); // row 1, query 1: future masked
      expect(positionIdsFor(pad, 2, 4, 0).arraySync()).toEqual([[1, 1, 0, 1], [0, 1, 2, 3]]);
      // One new token after 3 cached ones.
      const grown = tf.tensor2d([[0, 0, 1, 1, 1]], [1, 5], 'int32');
      expect(positionIdsFor(grown, 1, 1, 4).arraySync()).toEqual([[2]]);
      expect(positionIdsFor(undefined, 2, 2, 3).arraySync()).toEqual([[3, 4], [3, 4]]);
      expect(additiveAttentionMask(undefined, 1, 1, 7)).toBeNull();
      expect(() => additiveAttentionMask(pad, 2, 3, 0)).toThrow(/attentionMask must be \[batch, past \+ new tokens\] = \[2, 3\]/);
    });
  });
});

describe('swapping the Ops implementation', () => {
  it('the next forward uses the new implementation', () => {
    const { model } = loadModel(LLAMA_DIR);
    const calls: Record<string, number> = {};
    const counting: Ops = Object.fromEntries(
      Object.entries(compositeOps).map(([k, f]) => [k, typeof f === 'function' ? (...a: unknown[]) => ((calls[k] = (calls[k] ?? 0) + 1), (f as (...x: unknown[]) => unknown)(...a)) : f]),
    ) as unknown as Ops;
    const prev = setOps(counting);
    try {
      expect(ops()).toBe(counting);
      const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
      model.forward(ids).dispose();
      ids.dispose();
      expect(calls).toEqual({ rmsNorm: 5, linear: 15, rope: 4, attention: 2, swiglu: 2 });
    } finally {
      setOps(prev);
      model.dispose();
    }
    expect(ops()).toBe(compositeOps);
  });
});
