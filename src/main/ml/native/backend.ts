/**
 * The `native` tfjs backend: tfjs's CPU backend (same tensor storage, every CPU kernel available)
 * with the hot kernels replaced by calls into the native addon (BLAS GEMM, threaded SIMD loops).
 *
 * Storage is the CPU backend's: each tensor's values live in a JS typed array, so native kernels
 * read inputs and write outputs in place with no copies, and any kernel without a native version
 * runs the CPU one unchanged. A native kernel handles the float32 cases it knows and hands every
 * other case (int32, bool, complex, unusual attributes) to the CPU kernel of the same name.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendValues, DataId, DataType, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon';

export const NATIVE_BACKEND = 'native';

/**
 * Output arrays are recycled: a training step allocates the same sizes every step, and a fresh
 * multi-megabyte ArrayBuffer costs page faults on first touch (~10× the time of writing it again)
 * plus garbage-collector work. A buffer returns to the pool when its tensor is disposed, but only
 * if nothing outside the native kernels can still see it: it was allocated here, and no CPU
 * kernel (which may return views of its inputs) and no read (dataSync, data, arraySync) ever saw
 * its array. Those are marked `escaped` and left to the garbage collector.
 *
 * Pooled buffers are memory the garbage collector would otherwise hold until its next full
 * collection, so the pool does not raise peak memory (measured: same peak RSS with 1, 4 and 8
 * GiB caps on the SmolLM2-135M step) but saves 10-20% of a step. The cap (MiB) can be set with
 * LORA_STUDIO_NATIVE_POOL_MIB; releaseNativeMemory() empties the pool.
 */
const POOL_MAX_BYTES = (Number(process.env.LORA_STUDIO_NATIVE_POOL_MIB) || 4096) * 2 ** 20;

export class NativeBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  private hits = 0;
  private misses = 0;
  private readonly ours = new WeakSet<ArrayBufferLike>();
  private readonly escaped = new WeakSet<ArrayBufferLike>();

  constructor(readonly addon: NativeAddon) {
    super();
    // The CPU backend's first write prints "install tfjs-node to speed things up": not our case.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An uninitialised float32 array of n values: recycled when one is free, new otherwise. */
  alloc(n: number): Float32Array {
    if (n === 0) return new Float32Array(0);
    const free = this.pool.get(n);
    const reused = free?.pop();
    if (reused) {
      this.pooledBytes -= n * 4;
      this.hits++;
      return reused;
    }
    this.misses++;
    const fresh = allocFloat(n);
    this.ours.add(fresh.buffer);
    return fresh;
  }

  /** An uninitialised array of n values of `like`'s type (float32 ones recycled). */
  allocLike(n: number, like: Float32Array | Int32Array | Uint8Array): Float32Array | Int32Array | Uint8Array {
    return like instanceof Float32Array ? this.alloc(n) : allocTyped(n, like);
  }

  /** Marks the tensor's array as visible outside the native kernels: it will not be recycled. */
  markEscaped(dataId: DataId): void {
    if (!this.data.has(dataId)) return;
    const values = this.data.get(dataId).values as { buffer?: ArrayBufferLike } | undefined;
    if (values?.buffer) this.escaped.add(values.buffer);
  }

  override readSync(dataId: DataId): BackendValues {
    this.markEscaped(dataId);
    return super.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const deleted = super.disposeData(dataId, force);
    if (deleted && values instanceof Float32Array) this.recycle(values);
    return deleted;
  }

  /** Buffer pool counters: allocations served from the pool, fresh allocations, bytes held. */
  poolStats(): { hits: number; misses: number; pooledBytes: number } {
    return { hits: this.hits, misses: this.misses, pooledBytes: this.pooledBytes };
  }

  /** Drops every pooled buffer (the garbage collector then frees them). */
  releasePool(): void {
    this.pool.clear();
    this.pooledBytes = 0;
  }

  override dispose(): void {
    this.releasePool();
    super.dispose();
  }

  private recycle(values: Float32Array): void {
    const buf = values.buffer;
    if (!this.ours.has(buf) || this.escaped.has(buf) || values.byteOffset !== 0 || values.byteLength !== buf.byteLength) return;
    if (this.pooledBytes + values.byteLength > POOL_MAX_BYTES) return;
    const list = this.pool.get(values.length) ?? [];
    list.push(values);
    this.pool.set(values.length, list);
    this.pooledBytes += values.byteLength;
  }

  /** The values of a float32 tensor as a Float32Array (the CPU backend keeps a cast-up bool/int32 tensor's original array; those are converted). */
  floats(t: TensorInfo): Float32Array {
    const values = this.data.get(t.dataId).values;
    if (values instanceof Float32Array) return values;
    return new Float32Array(values as ArrayLike<number>);
  }

  /** The typed array behind a float32/int32/bool tensor, or null (strings, complex). */
  raw(t: TensorInfo): Float32Array | Int32Array | Uint8Array | null {
    const values = this.data.get(t.dataId).values;
    return values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array ? values : null;
  }

  output(shape: number[], values: Float32Array | Int32Array | Uint8Array, dtype: DataType = 'float32'): TensorInfo {
    return this.makeTensorInfo(shape, dtype, values);
  }
}

/**
 * A float32 array without zero-filling (every native kernel writes all of its output).
 * Buffer.allocUnsafeSlow gives an unpooled, exactly-sized ArrayBuffer at offset 0.
 */
function allocFloat(n: number): Float32Array {
  if (n === 0) return new Float32Array(0);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}

function allocTyped(n: number, like: Int32Array | Uint8Array): Int32Array | Uint8Array {
  if (n === 0) return like instanceof Int32Array ? new Int32Array(0) : new Uint8Array(0);
  const buf = Buffer.allocUnsafeSlow(n * like.BYTES_PER_ELEMENT);
  return like instanceof Int32Array ? new Int32Array(buf.buffer, buf.byteOffset, n) : new Uint8Array(buf.buffer, buf.byteOffset, n);
}

/** CPU kernels that never read their inputs' arrays (they share the data id or copy): no marking needed. */
const ALIAS_FREE = new Set(['Reshape', 'Identity', 'ExpandDims', 'Squeeze', 'Cast']);

/**
 * The CPU backend's kernel function for `name`, for running on the native backend: its inputs
 * are marked escaped first, since CPU kernels may return views of their inputs' arrays.
 */
export function cpuKernel(name: string): KernelFunc {
  const config = tf.getKernel(name, 'cpu');
  if (!config) throw new Error(`tfjs has no cpu kernel '${name}'`);
  const f = config.kernelFunc;
  if (ALIAS_FREE.has(name)) return f;
  return (args) => {
    const backend = args.backend as NativeBackend;
    const inputs = args.inputs as unknown as Record<string, TensorInfo | undefined> | TensorInfo[];
    for (const t of Object.values(inputs)) if (t?.dataId) backend.markEscaped(t.dataId);
    return f(args);
  };
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
