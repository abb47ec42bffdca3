/**
 * Shared by the ops tests: the wasm backend set up as the app sets it up (backends.ts: wasm paths,
 * tuneWasmBackend), and comparisons of an op and its gradients between two (backend, Ops) pairs.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { selectBackend } from '../../../../src/main/ml/backends';
import { compositeOps, setOps, type Ops } from '../../../../src/main/ml/ops';
import { expectClose, randoms, runOn, size } from '../native/helpers';

export { expectClose, input, randoms, runOn, size } from '../native/helpers';

/** Initialises the wasm backend once (selectBackend also installs its Ops: put composite back) and returns to cpu. */
export async function setupWasm(): Promise<void> {
  await selectBackend('wasm');
  await selectBackend('cpu');
  setOps(compositeOps);
}

/** The wasm backend's registered buffers: views and temporaries a kernel leaves behind show here. */
export function wasmDataIds(): number {
  return tf.findBackend('wasm')?.numDataIds() ?? 0;
}

export type Input = { shape: number[]; values: Float32Array };

/**
 * f(ops, ...xs) and its gradients with respect to every input: `actual` (backend, Ops) against
 * `expected` (backend, Ops), relative 1e-5 (see expectClose). The gradient seed dy is random so
 * that every output element matters.
 */
export async function compareOpsWithGrads(
  f: (o: Ops, ...xs: tf.Tensor[]) => tf.Tensor,
  inputs: Input[],
  what: string,
  actual: [string, Ops],
  expected: [string, Ops] = ['cpu', compositeOps],
  rtol = 1e-5,
): Promise<void> {
  const run = (o: Ops) => () => {
    const xs = inputs.map((x) => tf.tensor(x.values, x.shape, 'float32'));
    const y = f(o, ...xs);
    const dy = tf.tensor(randoms(size(y.shape), 99), y.shape, 'float32');
    return [y, ...tf.grads((...args: tf.Tensor[]) => f(o, ...args))(xs, dy)];
  };
  const want = await runOn(expected[0], run(expected[1]));
  const ids = wasmDataIds();
  const got = await runOn(actual[0], run(actual[1]));
  expect(wasmDataIds(), `${what}: wasm buffers left behind`).toBe(ids);
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expectClose(g, want[i], rtol, `${what} [${i === 0 ? 'value' : `gradient ${i}`}]`));
}
