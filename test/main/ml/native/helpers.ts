/**
 * Shared by the native-backend tests: run the same tfjs code on the `cpu` and `native` backends
 * and compare, with random inputs from a seeded generator.
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { nativeAvailable, registerNativeBackend } from '../../../../src/main/ml/native/index';

export const native = nativeAvailable();
if (!native.ok) console.warn(`native backend tests skipped: ${native.reason}`);

export async function setupNative(): Promise<void> {
  const r = await registerNativeBackend();
  if (!r.ok) throw new Error(r.reason);
}

/** Seeded uniform values in [lo, hi). */
export function randoms(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

type Out = { shape: number[]; dtype: string; values: Float32Array | Int32Array | Uint8Array };

/** Runs fn on `backend` inside tidy and reads every output back. */
export async function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Out[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(fn);
  const list = Array.isArray(outs) ? outs : [outs];
  const read = list.map((t) => ({ shape: t.shape.slice(), dtype: t.dtype, values: t.dataSync() as Out['values'] }));
  tf.dispose(list);
  expect(tf.memory().numTensors, `tensors leaked on ${backend}`).toBe(before);
  return read;
}

/**
 * Asserts |a − b| ≤ rtol · max(|b|, rms(b)) elementwise: relative to each value, with the
 * tensor's RMS as the floor so that values near zero (after cancellation) are judged on the
 * tensor's scale. NaN must match NaN, ±Inf must match exactly.
 */
export function expectClose(actual: Out, expected: Out, rtol = 1e-5, what = ''): void {
  expect(actual.shape, `${what} shape`).toEqual(expected.shape);
  expect(actual.dtype, `${what} dtype`).toBe(expected.dtype);
  // The CPU backend sometimes returns a non-empty array for a zero-size shape: compare size(shape) values.
  const n = size(expected.shape);
  const a = actual.values.subarray(0, n);
  const b = expected.values.subarray(0, n);
  let sq = 0;
  let finite = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isFinite(b[i])) {
      sq += b[i] * b[i];
      finite++;
    }
  }
  const rms = finite ? Math.sqrt(sq / finite) : 0;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]) || !Number.isFinite(b[i])) {
      if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
        throw new Error(`${what}: at ${i} expected ${b[i]}, got ${a[i]}`);
      }
      continue;
    }
    const err = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), rms, 1e-30);
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  if (worst > rtol) throw new Error(`${what}: relative error ${worst.toExponential(2)} > ${rtol} at ${worstAt}: expected ${b[worstAt]}, got ${a[worstAt]}`);
}

/** Runs fn on cpu and native and compares every output. */
export async function compareBackends(fn: () => tf.Tensor | tf.Tensor[], what: string, rtol = 1e-5): Promise<void> {
  const expected = await runOn('cpu', fn);
  const actual = await runOn('native', fn);
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expectClose(a, expected[i], rtol, `${what} [output ${i}]`));
}

/**
 * Compares f(...inputs) and its gradients with respect to every input, on cpu and native. The
 * gradient seed dy is random so that every output element matters.
 */
export async function compareWithGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: { shape: number[]; values: Float32Array }[],
  what: string,
  rtol = 1e-5,
): Promise<void> {
  await compareBackends(() => {
    const xs = inputs.map((x) => tf.tensor(x.values, x.shape, 'float32'));
    const y = f(...xs);
    const dy = tf.tensor(randoms(size(y.shape), 99), y.shape, 'float32');
    const grads = tf.grads((...args: tf.Tensor[]) => f(...args))(xs, dy);
    return [y, ...grads];
  }, what, rtol);
}

export function input(shape: number[], seed: number, lo = -1, hi = 1): { shape: number[]; values: Float32Array } {
  return { shape, values: randoms(size(shape), seed, lo, hi) };
}
