/**
 * The merge's inner loop on stored bytes: W' = W + s·B·A over a block of a weight's stored rows,
 * read from and written to the safetensors float types, and plain float conversion between those
 * types. Two implementations share one contract and give the same bits: the native addon's
 * (native/src/merge.cc: threaded, vectorised, no JS pass over the elements) and the JS reference
 * below, which runs where the addon is not built and is the tests' oracle.
 *
 * The arithmetic, fixed so both agree exactly: float32, the factors' own type (the sum's error,
 * about r·2⁻²⁴ of the delta, is far below the 2⁻²⁴ or 2⁻⁸ of the weight that storing the result
 * as F32 or 16-bit costs anyway). s·B's entries are rounded to F32 once; each delta element is
 * Σ_k (s·B[o,k])·A[k,i] with every product and sum rounded (no fused multiply-add), k in order,
 * then added to the weight, one rounding; 16-bit outputs round to nearest, ties to even (dtypes.ts).
 *
 * Problems are reported, not thrown, as the first element in storage order: 'nonfinite' (the merged
 * value is NaN/Inf: PEFT's safe_merge refuses these) or 'overflow' (a value the output type cannot
 * hold: above 65504 for F16, rounding to Inf for BF16). A conversion reports only 'overflow'.
 */
import type { LoraModuleWeights } from '../adapters/peft-files';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../ml/dtypes';
import { loadAddon, type FloatProblem, type NativeAddon, type StoredFloat, type WritableFloat } from '../ml/native/addon';

export type { FloatProblem, StoredFloat, WritableFloat };

/** What one weight receives: W += scale·B·A, or its transpose for GPT-2 Conv1D (stored (in, out)). */
export interface LoraDelta {
  module: LoraModuleWeights;
  scale: number;
  transposed: boolean;
}

export interface MergeKernels {
  readonly name: 'native' | 'js';
  /**
   * src: stored rows [rowStart, rowStart + rows) of the weight (storedGrid(d)) in srcType; dst
   * receives them merged, in dstType. src and dst may be the same bytes when the types match.
   */
  mergeRows(src: Uint8Array, srcType: StoredFloat, dst: Uint8Array, dstType: WritableFloat, d: LoraDelta, rowStart: number, rows: number): FloatProblem | null;
  /** dst = src as dstType (same element count). */
  convert(src: Uint8Array, srcType: StoredFloat, dst: Uint8Array, dstType: WritableFloat): FloatProblem | null;
}

export const STORED_BYTES: Readonly<Record<StoredFloat, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
export const F16_MAX = 65504;

/** The weight as it lies in the file: W [out, in], or Wᵀ [in, out] when transposed. */
export function storedGrid(d: LoraDelta): { rows: number; cols: number } {
  const m = d.module;
  return d.transposed ? { rows: m.inFeatures, cols: m.outFeatures } : { rows: m.outFeatures, cols: m.inFeatures };
}

// ---- JS reference ---------------------------------------------------------------------------

/** n stored elements as F32 (a fresh array: the caller may change it). */
function decodeStored(bytes: Uint8Array, type: StoredFloat, n: number): Float32Array {
  const out = new Float32Array(n);
  if (type === 'F32') {
    new Uint8Array(out.buffer).set(bytes.subarray(0, n * 4));
    return out;
  }
  // Typed-array views need the element size's alignment; a copy starts at offset 0.
  const raw = bytes.byteOffset % STORED_BYTES[type] === 0 ? bytes : new Uint8Array(bytes);
  if (type === 'F64') out.set(new Float64Array(raw.buffer, raw.byteOffset, n));
  else if (type === 'F16') f16ToF32(new Uint16Array(raw.buffer, raw.byteOffset, n), out);
  else bf16ToF32(new Uint16Array(raw.buffer, raw.byteOffset, n), out);
  return out;
}

function encodeStored(v: Float32Array, type: WritableFloat, dst: Uint8Array): void {
  if (type === 'F32') dst.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  else dst.set(new Uint8Array((type === 'F16' ? f32ToF16(v) : f32ToBf16(v)).buffer));
}

/** The largest magnitude each output type holds (BF16: 0x7f7f7fff, the last that does not round to Inf). */
const LIMIT: Record<WritableFloat, number> = {
  F32: 3.4028234663852886e38,
  F16: F16_MAX,
  BF16: new Float32Array(new Uint32Array([0x7f7f7fff]).buffer)[0],
};

/** The first value of `v` that the merge refuses (checkFinite) or `type` cannot hold. */
function firstProblem(v: Float32Array, type: WritableFloat, checkFinite: boolean): FloatProblem | null {
  const limit = LIMIT[type];
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (a <= limit) continue; // the common case: one comparison (false for NaN)
    if (Number.isFinite(a)) return { index: i, kind: 'overflow' };
    if (checkFinite) return { index: i, kind: 'nonfinite' };
    if (type === 'F16' && a === Infinity) return { index: i, kind: 'overflow' }; // above 65504 too
  }
  return null;
}

/**
 * Adds the delta to `w`, stored rows [rowStart, rowStart + rows) of the weight as F32, in float32
 * arithmetic: every product and sum is rounded (Math.fround, and Float32Array stores), k in order,
 * the sum added to the weight last. As in the native kernel, a stored row is coef [r] · basis
 * [r, cols]: s·B's row times A (W [out, in]), or A's column times s·Bᵀ (Wᵀ [in, out]); the sums of
 * a row build up in `acc`, one k at a time, reading basis rows front to back.
 */
export function addDeltaRows(w: Float32Array, d: LoraDelta, rowStart: number, rows: number): void {
  const { module: m, scale, transposed } = d;
  const r = m.r;
  const inF = m.inFeatures;
  const { cols } = storedGrid(d);
  let basis = m.a; // A [r, in]
  if (transposed) {
    basis = new Float32Array(r * cols); // s·Bᵀ [r, out], each rounded once
    for (let k = 0; k < r; k++) for (let o = 0; o < cols; o++) basis[k * cols + o] = scale * m.b[o * r + k];
  }
  const coef = new Float32Array(r);
  const acc = new Float32Array(cols);
  for (let j = 0; j < rows; j++) {
    const g = rowStart + j;
    for (let k = 0; k < r; k++) coef[k] = transposed ? m.a[k * inF + g] : scale * m.b[g * r + k];
    acc.fill(0);
    for (let k = 0; k < r; k++) {
      const c = coef[k];
      const bk = k * cols;
      for (let i = 0; i < cols; i++) acc[i] += Math.fround(c * basis[bk + i]);
    }
    const row = j * cols;
    for (let i = 0; i < cols; i++) w[row + i] += acc[i];
  }
}

function checkSizes(what: string, src: Uint8Array, srcType: StoredFloat, dst: Uint8Array, dstType: WritableFloat, n: number): void {
  if (src.length !== n * STORED_BYTES[srcType] || dst.length !== n * STORED_BYTES[dstType]) {
    throw new RangeError(`${what}: 'src' and 'dst' must hold ${n} elements of ${srcType} and ${dstType}`);
  }
}

export const jsMergeKernels: MergeKernels = {
  name: 'js',
  mergeRows(src, srcType, dst, dstType, d, rowStart, rows) {
    const { rows: total, cols } = storedGrid(d);
    if (rowStart + rows > total) throw new RangeError(`mergeRows: rows ${rowStart}..${rowStart + rows} run past the weight's ${total}`);
    checkSizes('mergeRows', src, srcType, dst, dstType, rows * cols);
    const w = decodeStored(src, srcType, rows * cols);
    addDeltaRows(w, d, rowStart, rows);
    const problem = firstProblem(w, dstType, true);
    encodeStored(w, dstType, dst);
    return problem;
  },
  convert(src, srcType, dst, dstType) {
    const n = src.length / STORED_BYTES[srcType];
    checkSizes('convert', src, srcType, dst, dstType, n);
    const w = decodeStored(src, srcType, n);
    const problem = firstProblem(w, dstType, false);
    encodeStored(w, dstType, dst);
    return problem;
  },
};

// ---- native ---------------------------------------------------------------------------------

/** The addon's kernels, or null where it is not built (or is a build from before them). */
export function nativeMergeKernels(): MergeKernels | null {
  const load = loadAddon();
  if (!load.ok) return null;
  const addon = load.addon;
  const has: Partial<NativeAddon> = addon;
  if (typeof has.mergeLoraRows !== 'function' || typeof has.convertFloats !== 'function') return null;
  // The export reads the next block and writes the last on libuv's threads while a block merges:
  // leaving them a core saves the pool's hand-off and spin where cores are few (2 → 1 thread).
  const threads = Math.max(1, addon.info().threads - 1);
  return {
    name: 'native',
    mergeRows(src, srcType, dst, dstType, d, rowStart, rows) {
      const m = d.module;
      const { cols } = storedGrid(d);
      return addon.mergeLoraRows(src, srcType, dst, dstType, rows, cols, rowStart, m.a, m.b, m.r, m.inFeatures, m.outFeatures, d.scale, d.transposed, threads);
    },
    convert: (src, srcType, dst, dstType) => addon.convertFloats(src, srcType, dst, dstType, threads),
  };
}

/** Native where available, else the JS reference. */
export function defaultMergeKernels(): MergeKernels {
  return nativeMergeKernels() ?? jsMergeKernels;
}
