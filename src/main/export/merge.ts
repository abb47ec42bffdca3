/**
 * Merging an adapter into base weights, one checkpoint tensor at a time:
 *
 *   W' = W + s·B·A            (nn.Linear weight [out, in])
 *   W' = W + (s·B·A)ᵀ         (GPT-2 Conv1D weight, stored (in, out); PEFT's fan_in_fan_out)
 *
 * Every tensor of the base checkpoint is visited in order; only the adapted ones change. The delta
 * is summed in Float64 in plain JS — for r-wide factors this is several times faster than any tfjs
 * backend's matmul here (tensor upload and download dominate) — and a non-finite result is
 * refused (PEFT's safe_merge), naming the tensor. Memory: one base tensor (as F32) at a time.
 */
import { readCheckpointLayout, CheckpointReader, type CheckpointLayout } from '../ml/checkpoint';
import { readConfigJson, type RawConfig } from '../ml/config';
import { FLOAT_DTYPES, type DType } from '../ml/dtypes';
import { createModel } from '../ml/models/registry';
import { moduleScale, type AdapterWeights, type LoraModuleWeights } from '../adapters/peft-files';

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
  delta: { module: LoraModuleWeights; scale: number; transposed: boolean } | null;
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

/**
 * Adds s·B·A (or its transpose) into `w` in place; returns the index of the first non-finite
 * result, or -1. One pass over the weight: each element gets its r-term dot product (summed in
 * Float64) from s·B's row and Aᵀ's row, both contiguous.
 */
export function addDelta(w: Float32Array, d: NonNullable<MergeTensor['delta']>): number {
  const { module: m, scale, transposed } = d;
  const r = m.r;
  const inF = m.inFeatures;
  const outF = m.outFeatures;
  const at = new Float64Array(inF * r); // Aᵀ [in, r]
  for (let k = 0; k < r; k++) for (let i = 0; i < inF; i++) at[i * r + k] = m.a[k * inF + i];
  const bs = new Float64Array(r); // s·B[o, :]
  let bad = -1;
  for (let o = 0; o < outF; o++) {
    for (let k = 0; k < r; k++) bs[k] = scale * m.b[o * r + k];
    for (let i = 0; i < inF; i++) {
      let s = 0;
      const ai = i * r;
      for (let k = 0; k < r; k++) s += bs[k] * at[ai + k];
      const idx = transposed ? i * outF + o : o * inF + i;
      w[idx] += s;
      // read back: the stored F32 overflows to Inf where the Float64 sum did not
      if (bad < 0 && !Number.isFinite(w[idx])) bad = idx;
    }
  }
  return bad;
}

/** Reads base tensors and returns them merged; one open reader per shard. */
export class MergedTensorSource {
  private readonly reader: CheckpointReader;

  constructor(readonly plan: MergePlan) {
    this.reader = new CheckpointReader(plan.layout);
  }

  /** The stored bytes of a tensor the adapter does not touch (copied through when the dtype stays). */
  readUnchanged(t: MergeTensor): Uint8Array {
    if (t.delta) throw new MergeError(`${t.name} has an adapter delta; it cannot be copied unchanged`);
    return this.reader.readBytes(t.name);
  }

  /** The tensor as F32, with the adapter's delta added when it has one. Refuses NaN/Inf. */
  read(t: MergeTensor): Float32Array {
    const w = this.reader.readFloat32(t.name);
    if (t.delta) {
      const bad = addDelta(w, t.delta);
      if (bad >= 0) throw new MergeError(`merging ${t.delta.module.name} into ${t.name} gives NaN or Inf (first at element ${bad}); nothing was written`);
    }
    return w;
  }

  close(): void {
    this.reader.close();
  }
}
