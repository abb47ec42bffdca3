/**
 * Data movement: Transpose, Slice, SplitV, Concat, PadV2, Tile, GatherV2 and UnsortedSegmentSum
 * (the gradient of gather). Transposes and box copies run in the addon; gathers and scatters are
 * row copies in JS (TypedArray.set is a memcpy).
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { NativeBackend, cpuKernel, sizeOf } from '../backend';

type Typed = Float32Array | Int32Array | Uint8Array;

/** The tensor's array in its dtype's storage type, or null (strings, complex, mismatched storage). */
function typed(backend: NativeBackend, t: TensorInfo): Typed | null {
  if (t.dtype === 'float32') return backend.floats(t);
  const raw = backend.raw(t);
  if (t.dtype === 'int32' && raw instanceof Int32Array) return raw;
  if (t.dtype === 'bool' && raw instanceof Uint8Array) return raw;
  return null;
}

/** Copies the `size` box at `begin` of x into a new tensor. */
function sliceBox(backend: NativeBackend, x: TensorInfo, values: Typed, begin: number[], size: number[]): TensorInfo {
  const out = backend.allocLike(sizeOf(size), values);
  if (out.length > 0) backend.addon.copyRegion(values, x.shape, begin, out, size, size.map(() => 0), size);
  return backend.output(size, out, x.dtype);
}

export function movementKernels(): KernelConfig[] {
  const cpuTranspose = cpuKernel(tf.Transpose);
  const transpose: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as { perm: number[] };
    const backend = args.backend as NativeBackend;
    const values = typed(backend, x);
    if (!values || perm.length !== x.shape.length) return cpuTranspose(args);
    const outShape = perm.map((p) => x.shape[p]);
    const out = backend.allocLike(values.length, values);
    if (out.length > 0) backend.addon.transpose(values, x.shape, perm, out);
    return backend.output(outShape, out, x.dtype);
  };

  const cpuSlice = cpuKernel(tf.Slice);
  const slice: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
    const backend = args.backend as NativeBackend;
    const values = typed(backend, x);
    if (!values) return cpuSlice(args);
    const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
    tf.slice_util.assertParamsValid(x, b, s);
    // A contiguous slice is a zero-copy view in the CPU kernel.
    if (sizeOf(s) === 0 || tf.slice_util.isSliceContinous(x.shape, b, s)) return cpuSlice(args);
    return sliceBox(backend, x, values, b, s);
  };

  const cpuSplit = cpuKernel(tf.SplitV);
  const splitV: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    const backend = args.backend as NativeBackend;
    const values = typed(backend, x);
    if (!values) return cpuSplit(args);
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[$axis] = s;
      const piece = sliceBox(backend, x, values, begin.slice(), size);
      begin[$axis] += s;
      return piece;
    });
  };

  const cpuConcat = cpuKernel(tf.Concat);
  const concat: KernelFunc = (args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const { axis } = args.attrs as { axis: number };
    const backend = args.backend as NativeBackend;
    if (inputs.length === 0) return cpuConcat(args);
    const dtype = inputs[0].dtype;
    const arrays = inputs.map((t) => (t.dtype === dtype ? typed(backend, t) : null));
    if (arrays.some((a) => a === null) || inputs[0].shape.length === 0) return cpuConcat(args);
    const $axis = tf.util.parseAxisParam(axis, inputs[0].shape)[0];
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), $axis);
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), $axis);
    const out = backend.allocLike(sizeOf(outShape), arrays[0] as Typed);
    const start = outShape.map(() => 0);
    inputs.forEach((t, i) => {
      if (sizeOf(t.shape) > 0) backend.addon.copyRegion(arrays[i] as Typed, t.shape, t.shape.map(() => 0), out, outShape, start, t.shape);
      start[$axis] += t.shape[$axis];
    });
    return backend.output(outShape, out, dtype);
  };

  const cpuPad = cpuKernel(tf.PadV2);
  const pad: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { paddings, constantValue } = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
    const backend = args.backend as NativeBackend;
    if (x.dtype !== 'float32' || paddings.length !== x.shape.length) return cpuPad(args);
    const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const out = backend.alloc(sizeOf(outShape)).fill(constantValue);
    if (sizeOf(x.shape) > 0) backend.addon.copyRegion(backend.floats(x), x.shape, x.shape.map(() => 0), out, outShape, paddings.map((p) => p[0]), x.shape);
    return backend.output(outShape, out);
  };

  const cpuTile = cpuKernel(tf.Tile);
  const tile: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as { reps: number[] };
    const backend = args.backend as NativeBackend;
    const values = typed(backend, x);
    if (!values || reps.length !== x.shape.length || x.shape.length === 0) return cpuTile(args);
    const outShape = x.shape.map((d, i) => d * reps[i]);
    const out = backend.allocLike(sizeOf(outShape), values);
    if (out.length === 0) return backend.output(outShape, out, x.dtype);
    const zero = outShape.map(() => 0);
    backend.addon.copyRegion(values, x.shape, zero, out, outShape, zero, x.shape);
    // Grow the filled box axis by axis (last first), doubling the copy each time.
    const filled = x.shape.slice();
    for (let d = x.shape.length - 1; d >= 0; d--) {
      while (filled[d] < outShape[d]) {
        const n = Math.min(filled[d], outShape[d] - filled[d]);
        const size = filled.slice();
        size[d] = n;
        const dst = zero.slice();
        dst[d] = filled[d];
        backend.addon.copyRegion(out, outShape, zero, out, outShape, dst, size);
        filled[d] += n;
      }
    }
    return backend.output(outShape, out, x.dtype);
  };

  const cpuGather = cpuKernel(tf.GatherV2);
  const gather: KernelFunc = (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const backend = args.backend as NativeBackend;
    const values = typed(backend, x);
    const idx = backend.raw(indices);
    if (!values || batchDims !== 0 || indices.dtype !== 'int32' || !(idx instanceof Int32Array)) return cpuGather(args);
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const outer = sizeOf(x.shape.slice(0, $axis));
    const dim = x.shape[$axis];
    const inner = sizeOf(x.shape.slice($axis + 1));
    for (let i = 0; i < idx.length; i++) {
      if (idx[i] < 0 || idx[i] >= dim) return cpuGather(args); // the CPU kernel reports the bad index
    }
    const outShape = [...x.shape.slice(0, $axis), ...indices.shape, ...x.shape.slice($axis + 1)];
    const out = backend.allocLike(outer * idx.length * inner, values);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < idx.length; i++) {
        const src = (o * dim + idx[i]) * inner;
        const dst = (o * idx.length + i) * inner;
        if (inner === 1) out[dst] = values[src];
        else out.set(values.subarray(src, src + inner), dst);
      }
    }
    return backend.output(outShape, out, x.dtype);
  };

  const cpuSegmentSum = cpuKernel(tf.UnsortedSegmentSum);
  const segmentSum: KernelFunc = (args) => {
    const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = args.attrs as { numSegments: number };
    const backend = args.backend as NativeBackend;
    const ids = backend.raw(segmentIds);
    const idRank = segmentIds.shape.length;
    if (x.dtype !== 'float32' || !(ids instanceof Int32Array) || !tf.util.arraysEqual(x.shape.slice(0, idRank), segmentIds.shape)) {
      return cpuSegmentSum(args);
    }
    const values = backend.floats(x);
    const inner = sizeOf(x.shape.slice(idRank));
    const out = new Float32Array(numSegments * inner);
    // Rows are added in index order: deterministic; ids outside [0, numSegments) are dropped as in tfjs.
    for (let i = 0; i < ids.length; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const src = i * inner;
      const dst = s * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += values[src + j];
    }
    return backend.output([numSegments, ...x.shape.slice(idRank)], out);
  };

  const k = (kernelName: string, kernelFunc: KernelFunc): KernelConfig => ({ kernelName, backendName: 'native', kernelFunc });
  return [
    k(tf.Transpose, transpose),
    k(tf.Slice, slice),
    k(tf.SplitV, splitV),
    k(tf.Concat, concat),
    k(tf.PadV2, pad),
    k(tf.Tile, tile),
    k(tf.GatherV2, gather),
    k(tf.UnsortedSegmentSum, segmentSum),
  ];
}
