/**
 * Reductions over any set of axes (Sum, Mean, Max, Min) and Softmax over the last axis.
 * Float32 only; sums use a fixed blocked order, so results do not depend on the thread count.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { NativeBackend, cpuKernel, sizeOf } from '../backend';

const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** out shape of reducing `shape` over `axes`. */
export function reducedShape(shape: number[], axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

export function reduceKernels(): KernelConfig[] {
  const configs: KernelConfig[] = [];
  for (const [name, op] of Object.entries(REDUCE_OPS)) {
    const cpu = cpuKernel(name);
    const kernelFunc: KernelFunc = (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const attrs = args.attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
      const backend = args.backend as NativeBackend;
      // Empty inputs keep the CPU kernel's conventions (e.g. max of nothing).
      if (x.dtype !== 'float32' || sizeOf(x.shape) === 0) return cpu(args);
      const axisAttr = name === 'Max' ? attrs.reductionIndices : attrs.axis;
      // null/undefined means every axis.
      const axes = tf.util.parseAxisParam(axisAttr ?? x.shape.map((_, i) => i), x.shape);
      const outShape = reducedShape(x.shape, axes, attrs.keepDims);
      const out = backend.alloc(sizeOf(outShape));
      backend.addon.reduce(op, backend.floats(x), x.shape, axes, out);
      return backend.output(outShape, out);
    };
    configs.push({ kernelName: name, backendName: 'native', kernelFunc });
  }

  const cpuSoftmax = cpuKernel(tf.Softmax);
  const softmax: KernelFunc = (args) => {
    const { logits } = args.inputs as { logits: TensorInfo };
    const { dim } = args.attrs as { dim: number };
    const backend = args.backend as NativeBackend;
    const rank = logits.shape.length;
    if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) return cpuSoftmax(args);
    const cols = logits.shape[rank - 1];
    const n = sizeOf(logits.shape);
    const out = backend.alloc(n);
    if (n > 0) backend.addon.softmax(backend.floats(logits), n / cols, cols, out, false);
    return backend.output(logits.shape.slice(), out);
  };
  configs.push({ kernelName: tf.Softmax, backendName: 'native', kernelFunc: softmax });
  return configs;
}
