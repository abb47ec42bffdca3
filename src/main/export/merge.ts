/**
 * Merging an adapter into base weights, one checkpoint tensor at a time:
 *
 *   W' = W + s·B·A            (nn.Linear weight [out, in])
 *   W' = W + (s·B·A)ᵀ         (GPT-2 Conv1D weight, stored (in, out); PEFT's fan_in_fan_out)
 *
 * Every tensor of the base checkpoint is visited in order; only the adapted ones change. The
 * arithmetic runs in merge-kernels.ts (the native addon's kernel, else the JS reference; the same
 * bits either way) on the stored bytes, a block of rows at a time, so a caller can stream a tensor
 * of any size through a fixed buffer. A non-finite result is refused (PEFT's safe_merge), naming the
 * tensor, as is a value the output type cannot hold.
 */
import { readCheckpointLayout, CheckpointReader, type CheckpointLayout } from '../ml/checkpoint';
import { readConfigJson, type RawConfig } from '../ml/config';
import { FLOAT_DTYPES, type DType } from '../ml/dtypes';
import { createModel } from '../ml/models/registry';
import { numel } from '../ml/safetensors';
import { moduleScale, type AdapterWeights, type LoraModuleWeights } from '../adapters/peft-files';
import {
  F16_MAX,
  STORED_BYTES,
  defaultMergeKernels,
  jsMergeKernels,
  storedGrid,
  type FloatProblem,
  type LoraDelta,
  type MergeKernels,
  type StoredFloat,
  type WritableFloat,
} from './merge-kernels';

export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

export interface MergeTensor {
  /** Name in the base checkpoint (kept in the export). */
  name: string;
  dtype: DType;
  shape: number[];
  file: string;
  /** The adapted module whose delta this tensor receives, if any. */
  delta: LoraDelta | null;
}

export interface MergePlan {
  baseDir: string;
  config: RawConfig;
  layout: CheckpointLayout;
  /** Every float tensor of the checkpoint, in checkpoint order. */
  tensors: MergeTensor[];
  /** Non-float tensors (buffers) that are not carried over. */
  skipped: string[];
  /** Bytes of the base checkpoint's float tensors as stored. */
  baseBytes: number;
}

/** Matches the adapter's modules to the base checkpoint's tensors; every module must land. */
export function planMerge(baseDir: string, adapter: AdapterWeights): MergePlan {
  const config = readConfigJson(baseDir);
  const layout = readCheckpointLayout(baseDir);
  const model = createModel(config);
  const slots = model.linearModules();
  const rslora = adapter.config.settings.rslora;
  const byWeight = new Map<string, LoraModuleWeights>(adapter.modules.map((m) => [`${m.name}.weight`, m]));
  const problems: string[] = [];
  for (const m of adapter.modules) {
    const slot = slots.get(m.name);
    if (!slot) problems.push(`the base model has no module ${m.name}`);
    else if (slot.base.inFeatures !== m.inFeatures || slot.base.outFeatures !== m.outFeatures) {
      problems.push(`${m.name} is ${slot.base.outFeatures}×${slot.base.inFeatures} in the base model but ${m.outFeatures}×${m.inFeatures} in the adapter`);
    }
  }
  const tensors: MergeTensor[] = [];
  const skipped: string[] = [];
  const landed = new Set<string>();
  let baseBytes = 0;
  try {
    for (const [name, info] of layout.tensors) {
      if (!FLOAT_DTYPES.includes(info.dtype)) {
        skipped.push(name);
        continue;
      }
      baseBytes += info.byteLength;
      const weightName = model.weightNameFor(name);
      const module = weightName ? byWeight.get(weightName) : undefined;
      let delta: MergeTensor['delta'] = null;
      if (module && weightName) {
        const declared = model.weights.get(weightName);
        const transposed = declared?.storedTransposed ?? false;
        const want = transposed ? [module.inFeatures, module.outFeatures] : [module.outFeatures, module.inFeatures];
        if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1]) {
          problems.push(`${name} has shape [${info.shape.join(', ')}] in the base checkpoint; the adapter's ${module.name} needs [${want.join(', ')}]`);
        } else {
          delta = { module, scale: moduleScale(module, rslora), transposed };
          landed.add(module.name);
        }
      }
      tensors.push({ name, dtype: info.dtype, shape: info.shape, file: info.file, delta });
    }
  } finally {
    model.dispose();
  }
  for (const m of adapter.modules) if (!landed.has(m.name) && slots.has(m.name)) problems.push(`no tensor ${m.name}.weight in the base checkpoint`);
  if (problems.length) throw new MergeError(`${baseDir}: the adapter does not fit this base model: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
  return { baseDir, config, layout, tensors, skipped, baseBytes };
}

/** A merged tensor's float type as stored in the base checkpoint (planMerge keeps float types only). */
export function storedFloat(t: MergeTensor): StoredFloat {
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64') return t.dtype;
  throw new MergeError(`${t.name} is ${t.dtype}, not a float tensor`);
}

const TYPE_NAME: Record<WritableFloat, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * Reads base tensors (whole, or in pieces into the caller's buffers) and merges or converts them;
 * one open reader per shard. Every refusal is a MergeError naming the tensor and the element.
 */
export class MergedTensorSource {
  private readonly reader: CheckpointReader;

  constructor(
    readonly plan: MergePlan,
    readonly kernels: MergeKernels = defaultMergeKernels(),
  ) {
    this.reader = new CheckpointReader(plan.layout);
  }

  /** The stored bytes of a tensor the adapter does not touch (copied through when the dtype stays). */
  readUnchanged(t: MergeTensor): Uint8Array {
    if (t.delta) throw new MergeError(`${t.name} has an adapter delta; it cannot be copied unchanged`);
    return this.reader.readBytes(t.name);
  }

  /** `out.length` stored bytes of `t` from `byteOffset`, as they are in the base checkpoint. */
  readStoredInto(t: MergeTensor, out: Uint8Array, byteOffset: number): void {
    this.reader.readBytesInto(t.name, out, byteOffset);
  }

  /** readStoredInto on libuv's thread pool, to overlap the read with other work. */
  readStoredIntoAsync(t: MergeTensor, out: Uint8Array, byteOffset: number): Promise<void> {
    return this.reader.readBytesIntoAsync(t.name, out, byteOffset);
  }

  /**
   * Merges stored rows [rowStart, rowStart + rows) of `t` (storedGrid) from `src` (stored bytes)
   * into `dst` as `dstType`; src and dst may be the same bytes when the type stays.
   */
  mergeRows(t: MergeTensor, src: Uint8Array, dst: Uint8Array, dstType: WritableFloat, rowStart: number, rows: number): void {
    const d = this.deltaOf(t);
    const problem = this.kernels.mergeRows(src, storedFloat(t), dst, dstType, d, rowStart, rows);
    if (problem) throw this.refusal(t, { kind: problem.kind, index: rowStart * storedGrid(d).cols + problem.index }, dstType);
  }

  /** Converts elements [elementStart, …) of an untouched `t` from `src` (stored bytes) into `dst`. */
  convert(t: MergeTensor, src: Uint8Array, dst: Uint8Array, dstType: WritableFloat, elementStart: number): void {
    const problem = this.kernels.convert(src, storedFloat(t), dst, dstType);
    if (problem) throw this.refusal(t, { kind: problem.kind, index: elementStart + problem.index }, dstType);
  }

  /**
   * The error for a value of `t` the kernels refused (`problem.index`: the element, in storage
   * order, from the tensor's start), naming the tensor, the element and the value.
   */
  refusal(t: MergeTensor, problem: FloatProblem, dstType: WritableFloat): MergeError {
    const { index } = problem;
    if (t.delta && problem.kind === 'nonfinite') {
      return new MergeError(`merging ${t.delta.module.name} into ${t.name} gives NaN or Inf (first at element ${index}); nothing was written`);
    }
    return this.overflow(t, t.delta ? this.mergedValue(t, index) : this.storedValue(t, index), index, dstType);
  }

  /** Where `t`'s stored bytes lie in the base checkpoint. */
  storedAt(t: MergeTensor): { file: string; offset: number; bytes: number } {
    const info = this.reader.info(t.name);
    return { file: info.file, offset: info.fileOffset, bytes: info.byteLength };
  }

  /** The tensor as F32, with the adapter's delta added when it has one. Refuses NaN/Inf. */
  read(t: MergeTensor): Float32Array {
    const stored = this.reader.readBytes(t.name);
    const out = new Float32Array(numel(t.shape));
    const bytes = new Uint8Array(out.buffer);
    if (t.delta) this.mergeRows(t, stored, bytes, 'F32', 0, storedGrid(t.delta).rows);
    else this.convert(t, stored, bytes, 'F32', 0);
    return out;
  }

  close(): void {
    this.reader.close();
  }

  private deltaOf(t: MergeTensor): LoraDelta {
    if (!t.delta) throw new MergeError(`${t.name} has no adapter delta to merge`);
    return t.delta;
  }

  /** One stored element of `t` in F32 (for a message). */
  private storedValue(t: MergeTensor, index: number): number {
    const type = storedFloat(t);
    const stored = new Uint8Array(STORED_BYTES[type]);
    this.reader.readBytesInto(t.name, stored, index * stored.length);
    const one = new Float32Array(1);
    jsMergeKernels.convert(stored, type, new Uint8Array(one.buffer), 'F32');
    return one[0];
  }

  /** One merged element in F32 (for a message), recomputed by the JS reference from its stored row. */
  private mergedValue(t: MergeTensor, index: number): number {
    const d = this.deltaOf(t);
    const { cols } = storedGrid(d);
    const type = storedFloat(t);
    const row = Math.floor(index / cols);
    const stored = new Uint8Array(cols * STORED_BYTES[type]);
    this.reader.readBytesInto(t.name, stored, row * stored.length);
    const merged = new Float32Array(cols);
    jsMergeKernels.mergeRows(stored, type, new Uint8Array(merged.buffer), 'F32', d, row, 1);
    return merged[index - row * cols];
  }

  private overflow(t: MergeTensor, value: number, index: number, dstType: WritableFloat): MergeError {
    const limit = dstType === 'F16' ? `max ${F16_MAX}; export as bf16 or f32` : 'it rounds to Inf; export as f32';
    return new MergeError(`${t.name}: value ${value} (element ${index}) does not fit ${TYPE_NAME[dstType]} (${limit})`);
  }
}
