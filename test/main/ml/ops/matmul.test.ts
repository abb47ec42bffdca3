/**
 * ops/matmul.ts on the wasm backend against tf.matMul on cpu, forward and backward: every
 * transpose combination, odd and degenerate sizes, batch dims, folded leading dims, zero-size;
 * and that the products really run as our kernel (no BatchMatMul left to the scalar loop).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { matMul, orientationCosts, XNN_MATMUL } from '../../../../src/main/ml/ops/matmul';
import { expectClose, input, randoms, runOn, setupWasm, size, wasmDataIds, type Input } from './helpers';

/** tf.matMul, with leading dims folded by hand where b is 2-D (tfjs' own broadcast gradient is wrong there). */
function reference(a: tf.Tensor, b: tf.Tensor, tA = false, tB = false): tf.Tensor {
  if (a.rank > 2 && b.rank === 2 && !tA) {
    const y = tf.matMul(a.reshape([-1, a.shape[a.rank - 1] as number]), b, false, tB);
    return y.reshape([...a.shape.slice(0, -1), y.shape[1] as number]);
  }
  return tf.matMul(a, b, tA, tB);
}

async function compare(aIn: Input, bIn: Input, tA: boolean, tB: boolean): Promise<void> {
  const what = `[${aIn.shape}]${tA ? 'ᵀ' : ''} · [${bIn.shape}]${tB ? 'ᵀ' : ''}`;
  const run = (mm: typeof matMul) => () => {
    const a = tf.tensor(aIn.values, aIn.shape);
    const b = tf.tensor(bIn.values, bIn.shape);
    const y = mm(a, b, tA, tB);
    const dy = tf.tensor(randoms(size(y.shape), 7), y.shape);
    return [y, ...tf.grads((x: tf.Tensor, z: tf.Tensor) => mm(x, z, tA, tB))([a, b], dy)];
  };
  const want = await runOn('cpu', run(reference));
  const ids = wasmDataIds();
  const got = await runOn('wasm', run(matMul));
  expect(wasmDataIds(), `${what}: wasm buffers left behind`).toBe(ids);
  got.forEach((g, i) => expectClose(g, want[i], 1e-5, `${what} [${['value', 'da', 'db'][i]}]`));
}

const mat = (shape: number[], seed: number) => input(shape, seed);
/** Operand shapes for a·b [..., M, N] with inner size K, stored transposed where asked. */
const operands = (lead: number[], M: number, K: number, N: number, tA: boolean, tB: boolean, seed: number): [Input, Input] => [
  mat([...lead, ...(tA ? [K, M] : [M, K])], seed),
  mat([...lead, ...(tB ? [N, K] : [K, N])], seed + 1),
];

describe('matMul on wasm', () => {
  beforeAll(setupWasm);

  it('2-D, every transpose combination, odd and degenerate sizes', async () => {
    const sizes = [[5, 7, 3], [1, 33, 65], [65, 33, 1], [17, 1, 9], [1, 1, 1], [70, 129, 31]];
    for (const [M, K, N] of sizes) {
      for (const tA of [false, true]) for (const tB of [false, true]) await compare(...operands([], M, K, N, tA, tB, M + K), tA, tB);
    }
  });

  it('batch dims (attention shapes), every transpose combination', async () => {
    for (const [lead, M, K, N] of [[[3], 5, 7, 4], [[2, 3], 12, 8, 10], [[1], 9, 6, 2], [[2, 1, 3], 1, 5, 7]] as [number[], number, number, number][]) {
      for (const tA of [false, true]) for (const tB of [false, true]) await compare(...operands(lead, M, K, N, tA, tB, M * N), tA, tB);
    }
  });

  it('leading dims folded into rows when b is 2-D: x [B, T, in] · Wᵀ', async () => {
    await compare(mat([2, 9, 7], 1), mat([11, 7], 2), false, true);
    await compare(mat([3, 2, 4, 7], 3), mat([7, 5], 4), false, false);
  });

  it('zero-size products: empty rows, columns or inner size (zeros)', async () => {
    await compare(mat([0, 7], 1), mat([7, 3], 2), false, false);
    await compare(mat([5, 7], 1), mat([0, 7], 2), false, true);
    await compare(mat([5, 0], 1), mat([0, 3], 2), false, false);
    await compare(mat([2, 4, 0], 1), mat([2, 0, 3], 2), false, false);
  });

  it('shapes it does not take (broadcast batch, transposed a against a 2-D b) are tf.matMul, still correct', async () => {
    for (const [aIn, bIn, tA] of [[mat([1, 5, 7], 3), mat([3, 7, 4], 4), false], [mat([2, 7, 5], 5), mat([7, 3], 6), true]] as [Input, Input, boolean][]) {
      const run = () => matMul(tf.tensor(aIn.values, aIn.shape), tf.tensor(bIn.values, bIn.shape), tA);
      const want = await runOn('cpu', run);
      const got = await runOn('wasm', run);
      expectClose(got[0], want[0], 1e-5, `[${aIn.shape}] · [${bIn.shape}]`);
    }
  });

  it('a large right operand (kept packed by XNNPACK) gives the same products on every use', async () => {
    const aIn = mat([3, 4096], 40);
    const bIn = mat([4096, 1024], 41); // 2^22 elements: the size an LM head's weight is kept packed from
    await compare(aIn, bIn, false, false);
    const ids = wasmDataIds();
    const got = await runOn('wasm', () => {
      const a = tf.tensor(aIn.values, aIn.shape);
      const b = tf.tensor(bIn.values, bIn.shape);
      return [matMul(a, b), matMul(a, b), matMul(tf.mul(a, 2), b)];
    });
    expect(wasmDataIds()).toBe(ids);
    expect(got[1].values).toEqual(got[0].values);
    got[2].values.forEach((v, i) => expect(v).toBeCloseTo(2 * got[0].values[i], 3));
  });

  it('forward and backward run as our kernel, never as a BatchMatMul of tfjs', async () => {
    await tf.setBackend('wasm');
    const info = await tf.profile(() =>
      tf.tidy(() => {
        const x = tf.randomNormal([2, 6, 8]);
        const w = tf.randomNormal([5, 8]);
        const q = tf.randomNormal([2, 3, 6, 4]);
        const k = tf.randomNormal([2, 3, 6, 4]);
        const f = (xi: tf.Tensor, wi: tf.Tensor, qi: tf.Tensor, ki: tf.Tensor) => tf.add(tf.sum(matMul(xi, wi, false, true)), tf.sum(matMul(qi, ki, false, true)));
        return tf.grads(f)([x, w, q, k]);
      }),
    );
    const names = new Set(info.kernels.map((k) => k.name));
    expect(names.has(XNN_MATMUL)).toBe(true);
    expect(names.has('BatchMatMul')).toBe(false);
    await tf.setBackend('cpu');
  });

  it('picks the orientation that moves fewer elements', () => {
    // decode x [1, 576] · W [1536, 576]ᵀ: W·xᵀ, never transposing the weight
    const decode = orientationCosts(1, 1536, 576, false, true);
    expect(decode.swapped).toBeLessThan(decode.plain);
    // training x [1024, 576] · Wᵀ: transpose W once and run x·W'
    const train = orientationCosts(1024, 1536, 576, false, true);
    expect(train.plain).toBeLessThan(train.swapped);
  });
});
