/**
 * BatchMatMul and _FusedMatMul through BLAS sgemm: every transpose combination, any batch rank,
 * NumPy broadcasting of the batch dimensions (a [2, 1, M, K] · b [3, K, N] → [2, 3, M, N]).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { NativeBackend, cpuKernel, sizeOf } from '../backend';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** out = op(a)·op(b) for float32 a, b; null when the shapes do not multiply (the CPU kernel reports that). */
export function nativeMatMul(backend: NativeBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const kA = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (kA !== kB) return null;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  let batchShape: number[];
  try {
    batchShape = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  } catch {
    return null;
  }
  const batch = sizeOf(batchShape);
  const outShape = [...batchShape, m, n];
  const out = backend.alloc(batch * m * n);
  if (out.length === 0) return backend.output(outShape, out);
  backend.addon.gemm(
    backend.floats(a), backend.floats(b), out, batch, m, n, kA, transposeA, transposeB,
    batchOffsets(batchA, batchShape, m * kA), batchOffsets(batchB, batchShape, kA * n), 1, 0,
  );
  return backend.output(outShape, out);
}

/** Element offset of each output batch item's matrix in an operand with batch dims `own`. */
function batchOffsets(own: number[], full: number[], matrixSize: number): Float64Array {
  const batch = sizeOf(full);
  const offsets = new Float64Array(batch);
  const ownSize = sizeOf(own);
  if (ownSize === batch) {
    for (let i = 0; i < batch; i++) offsets[i] = i * matrixSize;
    return offsets;
  }
  if (ownSize === 1) return offsets; // one matrix broadcast over the batch
  // General broadcast: own dims right-aligned with full dims, stride 0 where own is 1.
  const rank = full.length;
  const strides = new Array<number>(rank).fill(0);
  for (let i = own.length - 1, s = matrixSize; i >= 0; i--) {
    strides[rank - own.length + i] = own[i] === 1 ? 0 : s;
    s *= own[i];
  }
  for (let i = 0; i < batch; i++) {
    let rem = i;
    let off = 0;
    for (let d = rank - 1; d >= 0; d--) {
      off += (rem % full[d]) * strides[d];
      rem = Math.floor(rem / full[d]);
    }
    offsets[i] = off;
  }
  return offsets;
}

const isFloat = (...ts: (TensorInfo | undefined)[]) => ts.every((t) => t === undefined || t.dtype === 'float32');

export function matmulKernels(): KernelConfig[] {
  const cpuBatchMatMul = cpuKernel(tf.BatchMatMul);
  const cpuFused = cpuKernel(tf._FusedMatMul);

  const batchMatMul: KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
    const backend = args.backend as NativeBackend;
    if (!isFloat(a, b)) return cpuBatchMatMul(args);
    return nativeMatMul(backend, a, b, transposeA, transposeB) ?? cpuBatchMatMul(args);
  };

  const unaryIndex = (name: string) => (backend: NativeBackend) => backend.addon.unaryOps.indexOf(name);
  const activations: Record<string, ((b: NativeBackend) => number) | undefined> = {
    relu: unaryIndex('Relu'),
    sigmoid: unaryIndex('Sigmoid'),
    tanh: unaryIndex('Tanh'),
  };

  const fusedMatMul: KernelFunc = (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as MatMulAttrs & { activation: string } & NamedAttrMap;
    const backend = args.backend as NativeBackend;
    const activation = attrs.activation ?? 'linear';
    const act = activations[activation];
    if (!a || !b || !isFloat(a, b, bias) || preluActivationWeights || (activation !== 'linear' && !act)) return cpuFused(args);
    const product = nativeMatMul(backend, a, b, attrs.transposeA, attrs.transposeB);
    if (!product) return cpuFused(args);
    const y = backend.floats(product);
    if (bias) {
      let outShape: number[];
      try {
        outShape = tf.backend_util.assertAndGetBroadcastShape(product.shape, bias.shape);
      } catch {
        backend.disposeIntermediateTensorInfo(product);
        return cpuFused(args);
      }
      if (sizeOf(outShape) !== y.length) {
        backend.disposeIntermediateTensorInfo(product);
        return cpuFused(args);
      }
      // Same shape as the product, so the sum can overwrite it in place.
      backend.addon.binary(backend.addon.binaryOps.indexOf('Add'), y, product.shape, backend.floats(bias), bias.shape, y);
    }
    if (act) backend.addon.unary(act(backend), y, y);
    return product;
  };

  return [
    { kernelName: tf.BatchMatMul, backendName: 'native', kernelFunc: batchMatMul },
    { kernelName: tf._FusedMatMul, backendName: 'native', kernelFunc: fusedMatMul },
  ];
}
