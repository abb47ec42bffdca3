/**
 * Every native kernel against tfjs's CPU backend on the same inputs: odd sizes, batch dims,
 * broadcasting, zero-size tensors, special values; forward and gradients (tf.grads on both).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeKernelNames, setNativeThreads } from '../../../../src/main/ml/native/index';
import { compareBackends, compareWithGrads, expectClose, input, native, randoms, runOn, setupNative } from './helpers';

describe.skipIf(!native.ok)('native kernels vs cpu', () => {
  beforeAll(setupNative);

  it('registers native versions of the hot kernels', () => {
    const names = nativeKernelNames();
    for (const k of ['BatchMatMul', '_FusedMatMul', 'Add', 'Multiply', 'Exp', 'Sum', 'Max', 'Softmax', 'Transpose', 'Concat', 'GatherV2']) {
      expect(names).toContain(k);
    }
  });

  describe('BatchMatMul', () => {
    // tfjs's matMul gradient does not sum over broadcast batch dims (on any backend), so those
    // cases compare the forward pass only.
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 5], [5, 7], false, false],
      [[5, 3], [5, 7], true, false],
      [[3, 5], [7, 5], false, true],
      [[5, 3], [7, 5], true, true],
      [[1, 1], [1, 1], false, false],
      [[17, 33], [33, 1], false, false],
      [[2, 9, 17], [2, 17, 4], false, false], // batched
      [[4, 17, 9], [4, 5, 17], true, true],
      [[2, 1, 6, 5], [3, 5, 4], false, false], // batch broadcast [2, 1] × [3] → [2, 3]
      [[6, 7, 8], [8, 3], false, false], // 3-D × 2-D
      [[8, 3], [6, 8, 7], true, false],
      [[129, 67], [67, 300], false, false], // split across threads
      [[300, 67], [129, 67], false, true],
      [[36, 64, 48], [36, 48, 64], false, false], // many small products
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const broadcast = sa.length !== sb.length || sa.slice(0, -2).some((d, i) => d !== sb[i]);
      it(`[${sa}]${ta ? 'ᵀ' : ''} · [${sb}]${tb ? 'ᵀ' : ''}${broadcast ? '' : ' and its gradients'}`, async () => {
        if (broadcast) {
          // Reference: both operands tiled to the full batch shape first (the CPU kernel's own
          // broadcasting indexes batches modulo their count, wrong for [2, 1] × [3]).
          const [a, b] = [input(sa, 1), input(sb, 2)];
          const batch = tf.backend_util.assertAndGetBroadcastShape(sa.slice(0, -2), sb.slice(0, -2));
          const full = (x: { shape: number[]; values: Float32Array }) =>
            tf.broadcastTo(tf.tensor(x.values, x.shape).reshape([...new Array(batch.length + 2 - x.shape.length).fill(1), ...x.shape]), [...batch, ...x.shape.slice(-2)]);
          const expected = await runOn('cpu', () => tf.matMul(full(a), full(b), ta, tb));
          const actual = await runOn('native', () => tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape), ta, tb));
          expectClose(actual[0], expected[0], 1e-5, 'broadcast matMul');
        } else {
          await compareWithGrads((a, b) => tf.matMul(a, b, ta, tb), [input(sa, 1), input(sb, 2)], 'matMul');
        }
      });
    }

    it('zero-size operands', async () => {
      await compareBackends(() => tf.matMul(tf.zeros([0, 4]), tf.ones([4, 3])), 'M = 0');
      await compareBackends(() => tf.matMul(tf.zeros([3, 0]), tf.ones([0, 5])), 'K = 0 gives zeros');
      await compareBackends(() => tf.matMul(tf.zeros([2, 0, 3, 4]), tf.ones([4, 5])), 'batch 0');
    });

    it('matches the CPU error for mismatched inner sizes', async () => {
      await tf.setBackend('native');
      expect(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 2]))).toThrow(/inner shapes/);
    });
  });

  describe('_FusedMatMul', () => {
    for (const activation of ['linear', 'relu', 'sigmoid', 'elu'] as const) {
      it(`bias + ${activation}, forward and gradients`, async () => {
        await compareWithGrads(
          (a, b, bias) => tf.fused.matMul({ a, b, bias, activation, transposeB: true }),
          [input([7, 13], 3), input([11, 13], 4), input([11], 5)],
          `fused ${activation}`,
        );
      });
    }
    it('tanh (which the CPU backend lacks) equals tanh of the unfused product', async () => {
      const [a, b, bias] = [input([7, 13], 3), input([11, 13], 4), input([11], 5)];
      const expected = await runOn('cpu', () => tf.tanh(tf.add(tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape), false, true), tf.tensor(bias.values))));
      const actual = await runOn('native', () =>
        tf.fused.matMul({ a: tf.tensor(a.values, a.shape), b: tf.tensor(b.values, b.shape), bias: tf.tensor(bias.values), activation: 'tanh' as tf.fused.Activation, transposeB: true }),
      );
      expectClose(actual[0], expected[0], 1e-5, 'fused tanh');
    });

    it('without bias, batched, bias broadcast over rows', async () => {
      await compareBackends(() => tf.fused.matMul({ a: tf.tensor(randoms(2 * 5 * 6, 7), [2, 5, 6]), b: tf.tensor(randoms(6 * 3, 8), [6, 3]) }), 'no bias');
      await compareBackends(
        () => tf.fused.matMul({ a: tf.tensor(randoms(5 * 6, 7), [5, 6]), b: tf.tensor(randoms(6 * 3, 8), [6, 3]), bias: tf.tensor(randoms(5, 9), [5, 1]) }),
        'column bias',
      );
    });
  });

  describe('unary', () => {
    const special = new Float32Array([0, -0, 1, -1, 1e-30, -1e-30, 1e-40, 88, 89, -87, -104, -110, 1e30, -1e30, Infinity, -Infinity, NaN, 0.625, -0.625, 9, -9, 20]);
    const ops: [string, (x: tf.Tensor) => tf.Tensor, number, number][] = [
      ['exp', tf.exp, -20, 20],
      ['log', tf.log, 1e-3, 50],
      ['sqrt', tf.sqrt, 1e-3, 50],
      ['rsqrt', tf.rsqrt, 1e-2, 50],
      ['square', tf.square, -5, 5],
      ['neg', tf.neg, -5, 5],
      ['sigmoid', tf.sigmoid, -20, 20],
      ['tanh', tf.tanh, -6, 6],
      ['relu', tf.relu, -5, 5],
      ['abs', tf.abs, -5, 5],
      ['reciprocal', tf.reciprocal, 0.1, 5],
      ['softplus', tf.softplus, -30, 30],
    ];
    for (const [name, f, lo, hi] of ops) {
      it(`${name}: random values, special values, gradient`, async () => {
        await compareWithGrads(f, [input([33, 65], 11, lo, hi)], name);
        await compareBackends(() => f(tf.tensor(special)), `${name} special values`);
        await compareBackends(() => f(tf.zeros([0, 3])), `${name} zero-size`);
      });
    }

    it('exp, log, tanh and sigmoid stay within a few ulp over the float range', async () => {
      const xs = new Float32Array(40_001);
      for (let i = 0; i < xs.length; i++) xs[i] = -100 + (200 * i) / (xs.length - 1);
      await tf.setBackend('native');
      const check = (f: (x: tf.Tensor) => tf.Tensor, ref: (x: number) => number, inputs: Float32Array) => {
        const got = tf.tidy(() => f(tf.tensor(inputs)).dataSync());
        let worst = 0;
        for (let i = 0; i < inputs.length; i++) {
          const want = Math.fround(ref(inputs[i]));
          if (want === 0 || !Number.isFinite(want) || Math.abs(want) < 1.2e-38) {
            expect(Math.abs(got[i] - want)).toBeLessThan(1.5e-38);
            continue;
          }
          worst = Math.max(worst, Math.abs(got[i] - want) / Math.abs(want));
        }
        return worst;
      };
      expect(check(tf.exp, Math.exp, xs.map((x) => x * 0.88))).toBeLessThan(5e-7);
      expect(check(tf.log, Math.log, xs.map((x) => Math.exp(x / 2.5)))).toBeLessThan(5e-7);
      expect(check(tf.tanh, Math.tanh, xs.map((x) => x / 10))).toBeLessThan(5e-7);
      expect(check(tf.sigmoid, (x) => 1 / (1 + Math.exp(-x)), xs.map((x) => x / 3))).toBeLessThan(5e-7);
    });
  });

  describe('binary with broadcasting', () => {
    const shapes: [number[], number[]][] = [
      [[5, 7], [5, 7]],
      [[5, 7], [7]],
      [[7], [5, 7]],
      [[5, 1], [1, 7]],
      [[2, 3, 4], [3, 1]],
      [[2, 1, 3, 1], [1, 4, 1, 5]],
      [[4, 9, 16], []],
      [[], [3, 2]],
      [[1], [1]],
      [[64, 1000], [1000]], // large enough to split across threads
    ];
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number, number][] = [
      ['add', tf.add, -2, 2],
      ['sub', tf.sub, -2, 2],
      ['mul', tf.mul, -2, 2],
      ['div', tf.div, 0.5, 2],
      ['maximum', tf.maximum, -2, 2],
      ['minimum', tf.minimum, -2, 2],
      ['pow', tf.pow, 0.5, 2],
      ['squaredDifference', tf.squaredDifference, -2, 2],
    ];
    for (const [name, f, lo, hi] of ops) {
      // tfjs's own gradients of these three do not sum over broadcast axes (on any backend).
      const gradsBroadcast = !['maximum', 'minimum', 'squaredDifference'].includes(name);
      it(`${name} over ${shapes.length} shape pairs, with gradients`, async () => {
        for (const [sa, sb] of shapes) {
          const [a, b] = [input(sa, 21, lo, hi), input(sb, 22, lo, hi)];
          if (gradsBroadcast || tf.util.arraysEqual(sa, sb)) await compareWithGrads(f, [a, b], `${name} [${sa}] [${sb}]`);
          else await compareBackends(() => f(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape)), `${name} [${sa}] [${sb}]`);
        }
        await compareBackends(() => f(tf.zeros([0, 3]), tf.ones([3])), `${name} zero-size`);
      });
    }

    it('NaN and infinities propagate as on cpu', async () => {
      const a = new Float32Array([NaN, 1, Infinity, -Infinity, 0, 2]);
      const b = new Float32Array([1, NaN, Infinity, 1, 0, -Infinity]);
      for (const [name, f] of ops) {
        await compareBackends(() => f(tf.tensor(a), tf.tensor(b)), `${name} special`);
      }
    });

    it('comparisons give bool tensors', async () => {
      const a = tf.tensor(randoms(60, 31, -1, 1).map((v) => Math.round(v * 3)), [3, 4, 5]);
      const b = tf.tensor(randoms(5, 32, -1, 1).map((v) => Math.round(v * 3)), [5]);
      const av = a.dataSync();
      const bv = b.dataSync();
      tf.dispose([a, b]);
      for (const f of [tf.equal, tf.notEqual, tf.greater, tf.greaterEqual, tf.less, tf.lessEqual]) {
        await compareBackends(() => f(tf.tensor(av, [3, 4, 5]), tf.tensor(bv, [5])), f.name);
      }
    });

    it('AddN and int32 fallbacks', async () => {
      await compareBackends(() => tf.addN([1, 2, 3, 4].map((s) => tf.tensor(randoms(35, s), [5, 7]))), 'addN');
      await compareBackends(() => tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4], [1], 'int32')), 'int32 add');
      await compareBackends(() => tf.add(tf.tensor([1, 0, 1], [3], 'bool').cast('float32'), tf.tensor([0.5])), 'cast-up bool storage');
    });
  });

  describe('reductions', () => {
    const cases: [number[], number | number[] | undefined, boolean][] = [
      [[7, 9], -1, false],
      [[7, 9], 0, true],
      [[7, 9], undefined, false],
      [[3, 5, 7], [0, 2], false],
      [[3, 5, 7], 1, true],
      [[2, 3, 4, 5], [1, 3], true],
      [[2, 3, 4, 5], [0, 1, 2], false],
      [[1000, 33], 0, false], // column reduce over several row blocks
      [[3, 40000], 1, false], // rows longer than one summation block
      [[70000], 0, false],
      [[4, 1, 6], 1, false],
    ];
    for (const [name, f] of [
      ['sum', tf.sum],
      ['mean', tf.mean],
      ['max', tf.max],
      ['min', tf.min],
    ] as const) {
      it(`${name} over axes, keepDims, long rows, gradients`, async () => {
        for (const [shape, axis, keep] of cases) {
          await compareWithGrads((x) => f(x, axis, keep), [input(shape, 41)], `${name} [${shape}] axis ${axis}`);
        }
        await compareBackends(() => f(tf.tensor([1, NaN, 3, 4, 5, 6], [2, 3]), 1), `${name} NaN`);
        await compareBackends(() => f(tf.zeros([0, 4]), 1), `${name} empty`);
      });
    }
  });

  describe('softmax', () => {
    it('over the last axis, masked rows, large logits, gradients', async () => {
      await compareWithGrads((x) => tf.softmax(x), [input([6, 4, 37], 51, -5, 5)], 'softmax');
      await compareWithGrads((x) => tf.softmax(x), [input([3, 20000], 52, -30, 30)], 'softmax long rows');
      const masked = randoms(5 * 8, 53, -3, 3).map((v, i) => (i % 8 > i / 8 ? -1e9 : v));
      await compareWithGrads((x) => tf.softmax(x), [{ shape: [5, 8], values: masked }], 'softmax masked');
      await compareWithGrads((x) => tf.logSoftmax(x), [input([9, 50], 54, -10, 10)], 'logSoftmax');
    });
  });

  describe('data movement', () => {
    it('transpose: 2-D to 5-D, head splits, int32 and bool', async () => {
      const cases: [number[], number[]][] = [
        [[37, 53], [1, 0]],
        [[4, 33, 9, 64], [0, 2, 1, 3]], // [B, T, nH, hd] → [B, nH, T, hd]
        [[2, 3, 4, 5], [3, 2, 1, 0]],
        [[2, 3, 4, 5, 6], [0, 4, 2, 1, 3]],
        [[5, 1, 7], [2, 1, 0]],
        [[3, 70, 90], [0, 2, 1]],
        [[0, 3], [1, 0]],
      ];
      for (const [shape, perm] of cases) {
        await compareWithGrads((x) => tf.transpose(x, perm), [input(shape, 61)], `transpose [${shape}] ${perm}`);
      }
      await compareBackends(() => tf.transpose(tf.tensor(Int32Array.from({ length: 24 }, (_, i) => i), [2, 3, 4], 'int32'), [2, 0, 1]), 'int32');
      await compareBackends(() => tf.transpose(tf.tensor(Array.from({ length: 24 }, (_, i) => i % 3 === 0), [2, 3, 4], 'bool'), [1, 2, 0]), 'bool');
    });

    it('slice, split, concat, pad with gradients', async () => {
      await compareWithGrads((x) => tf.slice(x, [1, 0, 2], [2, 5, 3]), [input([4, 5, 7], 71)], 'slice');
      await compareWithGrads((x) => tf.slice(x, [0, 0, 32], [2, 3, 32]), [input([2, 3, 64], 72)], 'slice last half');
      await compareWithGrads((x) => tf.slice(x, [1, 0], [2, 5]), [input([4, 5], 73)], 'contiguous slice');
      await compareWithGrads((x) => tf.concat(tf.split(x, [3, 4, 2], 2).reverse(), 2), [input([2, 5, 9], 74)], 'split + concat');
      await compareWithGrads((a, b) => tf.concat([a, b], 0), [input([2, 3], 75), input([4, 3], 76)], 'concat axis 0');
      await compareWithGrads((a, b) => tf.concat([a, b], -1), [input([2, 3, 1], 77), input([2, 3, 5], 78)], 'concat last axis');
      await compareWithGrads((x) => tf.pad(x, [[1, 2], [0, 0], [3, 1]], 0.5), [input([2, 3, 4], 79)], 'pad');
      await compareBackends(() => tf.concat([tf.zeros([0, 3]), tf.ones([2, 3])], 0), 'concat with empty');
      await compareBackends(() => tf.concat([tf.tensor([1, 2], [2], 'int32'), tf.tensor([3], [1], 'int32')]), 'concat int32');
    });

    it('tile, broadcastTo, gather, and gather gradients (UnsortedSegmentSum)', async () => {
      await compareWithGrads((x) => tf.tile(x, [2, 1, 3]), [input([2, 3, 4], 81)], 'tile');
      await compareBackends(() => tf.broadcastTo(tf.tensor(randoms(5, 82), [1, 5]), [7, 3, 5]), 'broadcastTo');
      const idx = Int32Array.from([3, 0, 0, 4, 2, 3]);
      await compareWithGrads((x) => tf.gather(x, tf.tensor(idx, [2, 3], 'int32')), [input([5, 7], 83)], 'gather rows');
      await compareWithGrads((x) => tf.gather(x, tf.tensor(idx, [6], 'int32'), 1), [input([3, 5, 2], 84)], 'gather axis 1');
      await compareWithGrads((x) => tf.gather(x.reshape([-1]), tf.tensor(idx, [6], 'int32')), [input([5, 1], 85)], 'gather scalars');
      await compareBackends(() => tf.unsortedSegmentSum(tf.tensor(randoms(12, 86), [4, 3]), tf.tensor([1, -1, 1, 5], [4], 'int32'), 3), 'segment ids out of range are dropped');
    });
  });

  describe('threads', () => {
    it('resizes the pool repeatedly without hanging', async () => {
      await tf.setBackend('native');
      try {
        for (let i = 0; i < 60; i++) {
          setNativeThreads(1 + (i % 3));
          tf.tidy(() => tf.exp(tf.ones([70000])).dataSync());
        }
      } finally {
        setNativeThreads(0);
      }
    });

    it('gives the same bits with 1 and 2 threads', async () => {
      const run = async () =>
        runOn('native', () => {
          const a = tf.tensor(randoms(300 * 257, 91), [300, 257]);
          const b = tf.tensor(randoms(257 * 129, 92), [257, 129]);
          const y = tf.matMul(a, b);
          return [y, tf.sum(y, 0), tf.sum(y), tf.softmax(y), tf.exp(y.mul(0.01)), tf.transpose(y)];
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
  });

  describe('output buffer pool', () => {
    it('never recycles an array that was read or that a CPU kernel may have aliased', async () => {
      await tf.setBackend('native');
      const n = 50_000;
      const a = tf.exp(tf.tensor(randoms(n, 1)));
      const seen = a.dataSync(); // the backend's own array
      const copy = Float32Array.from(seen);
      a.dispose();
      const b = tf.exp(tf.tensor(randoms(n, 2))); // same size: would reuse a's buffer if it were pooled
      expect(Buffer.from(seen.buffer, seen.byteOffset, seen.byteLength).equals(Buffer.from(copy.buffer))).toBe(true);
      b.dispose();

      const big = tf.exp(tf.tensor(randoms(2 * n, 3), [2, n]));
      const view = tf.slice(big, [0, 0], [1, n]); // contiguous: the CPU kernel returns a view of big
      const before = Float32Array.from(view.dataSync());
      big.dispose();
      const c = tf.exp(tf.tensor(randoms(2 * n, 4), [2, n]));
      expect(Array.from(view.dataSync())).toEqual(Array.from(before));
      tf.dispose([view, c]);
    });

    it('reuses the buffers of disposed outputs', async () => {
      await tf.setBackend('native');
      const backend = tf.backend() as unknown as { poolStats(): { hits: number; misses: number } };
      const x = tf.tensor(randoms(40_000, 5));
      tf.exp(x).dispose();
      const hits = backend.poolStats().hits;
      tf.exp(x).dispose();
      expect(backend.poolStats().hits).toBe(hits + 1);
      x.dispose();
    });
  });

  it('a Llama-like block: forward and gradients match cpu', async () => {
    const [B, T, D, nH, nKV, F] = [2, 6, 24, 4, 2, 40];
    const hd = D / nH;
    const shapes = [[B, T, D], [D], [nH * hd, D], [nKV * hd, D], [nKV * hd, D], [D, nH * hd], [F, D], [F, D], [D, F]];
    await compareWithGrads(
      (x, g, wq, wk, wv, wo, wg, wu, wd) => {
        const n = tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-5))), g);
        const heads = (t: tf.Tensor, h: number) => t.reshape([B, T, h, hd]).transpose([0, 2, 1, 3]);
        // 2-D products, as ops.linear does (tfjs's matMul gradient needs equal batch dims).
        const lin = (x: tf.Tensor, w: tf.Tensor) => tf.matMul(x.reshape([-1, x.shape[x.rank - 1]]), w, false, true).reshape([...x.shape.slice(0, -1), w.shape[0]]);
        const groups = nH / nKV;
        const q = heads(lin(n, wq), nH).reshape([B, nKV, groups * T, hd]); // query heads sharing a kv head, stacked
        const k = heads(lin(n, wk), nKV);
        const v = heads(lin(n, wv), nKV);
        const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0).sub(1).mul(1e9).tile([groups, 1]); // [groups*T, T]
        const att = tf.matMul(tf.softmax(tf.add(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hd)), mask)), v).reshape([B, nH, T, hd]);
        const h = tf.add(x, lin(att.transpose([0, 2, 1, 3]).reshape([B, T, D]), wo));
        const gate = lin(h, wg);
        return tf.add(h, lin(tf.mul(tf.mul(gate, tf.sigmoid(gate)), lin(h, wu)), wd));
      },
      shapes.map((s, i) => input(s, 100 + i, -0.5, 0.5)),
      'llama block',
    );
  });
});
