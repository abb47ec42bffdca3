/**
 * Elementwise kernels: unary maps, binary maps and comparisons with NumPy broadcasting, AddN.
 * Float32 in (comparisons: float32 in, bool out); other dtypes go to the CPU kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { NativeAddon } from '../addon';
import { NativeBackend, cpuKernel, sizeOf } from '../backend';

function broadcastShape(a: number[], b: number[]): number[] | null {
  try {
    return tf.backend_util.assertAndGetBroadcastShape(a, b);
  } catch {
    return null;
  }
}

export function elementwiseKernels(addon: NativeAddon): KernelConfig[] {
  const configs: KernelConfig[] = [];

  addon.unaryOps.forEach((name, op) => {
    const cpu = cpuKernel(name);
    const kernelFunc: KernelFunc = (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const backend = args.backend as NativeBackend;
      if (x.dtype !== 'float32') return cpu(args);
      const out = backend.alloc(sizeOf(x.shape));
      if (out.length > 0) backend.addon.unary(op, backend.floats(x), out);
      return backend.output(x.shape.slice(), out);
    };
    configs.push({ kernelName: name, backendName: 'native', kernelFunc });
  });

  addon.binaryOps.forEach((name, op) => {
    const cpu = cpuKernel(name);
    const kernelFunc: KernelFunc = (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const backend = args.backend as NativeBackend;
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return cpu(args);
      const shape = broadcastShape(a.shape, b.shape);
      if (!shape) return cpu(args); // the CPU kernel throws tfjs's own message
      const out = backend.alloc(sizeOf(shape));
      if (out.length > 0) backend.addon.binary(op, backend.floats(a), a.shape, backend.floats(b), b.shape, out);
      return backend.output(shape, out);
    };
    configs.push({ kernelName: name, backendName: 'native', kernelFunc });
  });

  addon.compareOps.forEach((name, op) => {
    const cpu = cpuKernel(name);
    const kernelFunc: KernelFunc = (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const backend = args.backend as NativeBackend;
      if (a.dtype !== 'float32' || b.dtype !== 'float32') return cpu(args);
      const shape = broadcastShape(a.shape, b.shape);
      if (!shape) return cpu(args);
      const out = new Uint8Array(sizeOf(shape));
      if (out.length > 0) backend.addon.compare(op, backend.floats(a), a.shape, backend.floats(b), b.shape, out);
      return backend.output(shape, out, 'bool');
    };
    configs.push({ kernelName: name, backendName: 'native', kernelFunc });
  });

  // AddN: the sum of same-shape tensors (tf.grads adds up the gradients of a reused tensor with it).
  const cpuAddN = cpuKernel(tf.AddN);
  const add = addon.binaryOps.indexOf('Add');
  const addN: KernelFunc = (args) => {
    const tensors = args.inputs as unknown as TensorInfo[];
    const backend = args.backend as NativeBackend;
    if (tensors.length === 0 || tensors.some((t) => t.dtype !== 'float32')) return cpuAddN(args);
    const shape = tensors[0].shape;
    if (tensors.some((t) => !tf.util.arraysEqual(t.shape, shape))) return cpuAddN(args);
    const n = sizeOf(shape);
    if (tensors.length === 1) return backend.output(shape.slice(), backend.floats(tensors[0]).slice());
    const out = backend.alloc(n);
    if (n > 0) {
      backend.addon.binary(add, backend.floats(tensors[0]), shape, backend.floats(tensors[1]), shape, out);
      // Same shapes: accumulating into `out` in place is safe.
      for (let i = 2; i < tensors.length; i++) backend.addon.binary(add, out, shape, backend.floats(tensors[i]), shape, out);
    }
    return backend.output(shape.slice(), out);
  };
  configs.push({ kernelName: tf.AddN, backendName: 'native', kernelFunc: addN });

  return configs;
}
