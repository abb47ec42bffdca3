/**
 * Finds and loads the native addon (native/, built by scripts/build-native.mjs) and describes its
 * functions. Loading never throws: the result says why the addon is unavailable (not built, built
 * for another platform, a missing shared library...), in words a user can act on.
 *
 * All functions are synchronous and write into caller-allocated typed arrays; shapes are plain
 * number arrays; the addon validates lengths and throws a RangeError naming the argument.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type FloatArray = Float32Array;
export type AnyArray = Float32Array | Int32Array | Uint8Array;
/** Float types as safetensors stores them (F64 is read, never written). */
export type StoredFloat = 'F32' | 'F16' | 'BF16' | 'F64';
export type WritableFloat = Exclude<StoredFloat, 'F64'>;
/**
 * The first element (storage order) a merge or conversion could not store faithfully: 'nonfinite'
 * where the float result is NaN/Inf, 'overflow' where it does not fit the stored type.
 */
export interface FloatProblem {
  index: number;
  kind: 'nonfinite' | 'overflow';
}

export interface NativeAddon {
  /** C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i]; offsets (in elements) pick A[i], B[i]. */
  gemm(
    a: FloatArray, b: FloatArray, c: FloatArray,
    batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean,
    aOffsets: Float64Array, bOffsets: Float64Array,
    alpha: number, beta: number,
  ): void;
  /** out = f(x) elementwise; op indexes `unaryOps`. */
  unary(op: number, x: FloatArray, out: FloatArray): void;
  /** out = f(a, b) with NumPy broadcasting; op indexes `binaryOps`. */
  binary(op: number, a: FloatArray, aShape: number[], b: FloatArray, bShape: number[], out: FloatArray): void;
  /** out = (a op b) as 0/1 with broadcasting; op indexes `compareOps`. */
  compare(op: number, a: FloatArray, aShape: number[], b: FloatArray, bShape: number[], out: Uint8Array): void;
  /** op: 0 sum, 1 mean, 2 max, 3 min over `axes`; out holds the kept axes. */
  reduce(op: number, x: FloatArray, shape: number[], axes: number[], out: FloatArray): void;
  /** Softmax (or log-softmax) over the last axis of [rows, cols]. */
  softmax(x: FloatArray, rows: number, cols: number, out: FloatArray, log: boolean): void;
  transpose(x: AnyArray, shape: number[], perm: number[], out: AnyArray): void;
  /** Copies the box `size` at srcStart of src into dst at dstStart. */
  copyRegion(
    src: AnyArray, srcShape: number[], srcStart: number[],
    dst: AnyArray, dstShape: number[], dstStart: number[], size: number[],
  ): void;
  // Fused ops (shapes in native/src/fused.h); each *Grad is the matching backward pass.
  rmsNorm(x: FloatArray, w: FloatArray, n: number, d: number, eps: number, y: FloatArray, rstd: FloatArray): void;
  rmsNormGrad(dy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, n: number, d: number, dx: FloatArray, dw: FloatArray): void;
  layerNorm(x: FloatArray, w: FloatArray, b: FloatArray, n: number, d: number, eps: number, y: FloatArray, mean: FloatArray, rstd: FloatArray): void;
  layerNormGrad(
    dy: FloatArray, x: FloatArray, w: FloatArray, mean: FloatArray, rstd: FloatArray, n: number, d: number,
    dx: FloatArray, dw: FloatArray, db: FloatArray,
  ): void;
  /** backward = true applies the transposed rotation (the gradient). */
  rope(x: FloatArray, cos: FloatArray, sin: FloatArray, b: number, h: number, t: number, hd: number, cb: number, y: FloatArray, backward: boolean): void;
  attention(
    q: FloatArray, k: FloatArray, v: FloatArray, mask: FloatArray | null,
    b: number, nh: number, nkv: number, t: number, tk: number, hd: number, mb: number, scale: number,
    out: FloatArray, probs: FloatArray,
  ): void;
  attentionGrad(
    dout: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, probs: FloatArray,
    b: number, nh: number, nkv: number, t: number, tk: number, hd: number, scale: number,
    dq: FloatArray, dk: FloatArray, dv: FloatArray,
  ): void;
  swiglu(gate: FloatArray, up: FloatArray, y: FloatArray): void;
  swigluGrad(dy: FloatArray, gate: FloatArray, up: FloatArray, dgate: FloatArray, dup: FloatArray): void;
  gelu(x: FloatArray, y: FloatArray): void;
  geluGrad(dy: FloatArray, x: FloatArray, dx: FloatArray): void;
  /** Returns Σ w_i·(lse_i − logits[i, t_i]); writes lse [N]. Throws RangeError for a target outside [0, V) with w_i ≠ 0. */
  crossEntropy(logits: FloatArray, targets: Int32Array, weights: FloatArray, n: number, v: number, lse: FloatArray): number;
  crossEntropyGrad(dy: number, logits: FloatArray, targets: Int32Array, weights: FloatArray, lse: FloatArray, n: number, v: number, dlogits: FloatArray): void;
  /** y = x·Wᵀ (+ bias) + scale·(xl·Aᵀ)·Bᵀ (xl: the LoRA branch's input, null = x); writes h = xl·Aᵀ. */
  loraLinear(
    x: FloatArray, xl: FloatArray | null, w: FloatArray, bias: FloatArray | null, a: FloatArray, b: FloatArray,
    n: number, inF: number, outF: number, r: number, scale: number, y: FloatArray, h: FloatArray,
  ): void;
  loraLinearGrad(
    dy: FloatArray, x: FloatArray, xl: FloatArray | null, w: FloatArray, a: FloatArray, b: FloatArray, h: FloatArray,
    n: number, inF: number, outF: number, r: number, scale: number,
    dx: FloatArray, dxl: FloatArray | null, da: FloatArray, db: FloatArray,
  ): void;
  /**
   * W' = W + s·B·A on stored bytes (native/src/merge.h): src holds stored rows
   * [rowStart, rowStart + rows) of `cols` elements (W [out, in], or Wᵀ stored [in, out] when
   * transposed); dst gets them in dstType (src itself when the types match). A [r, inF], B [outF, r].
   * `threads`: the most of the pool's threads to use (absent or 0: all).
   */
  mergeLoraRows(
    src: Uint8Array, srcType: StoredFloat, dst: Uint8Array, dstType: WritableFloat,
    rows: number, cols: number, rowStart: number,
    a: FloatArray, b: FloatArray, r: number, inF: number, outF: number, scale: number, transposed: boolean,
    threads?: number,
  ): FloatProblem | null;
  /** GGUF Q8_0 of src (whole blocks of 32) into dst (34 bytes per block), as ggml's reference quantizer. Absent from older builds. */
  quantizeQ8_0?(src: Float32Array, dst: Uint8Array, threads?: number): void;
  /** dst = src in another stored type; reports the first value dstType cannot hold. */
  convertFloats(src: Uint8Array, srcType: StoredFloat, dst: Uint8Array, dstType: WritableFloat, threads?: number): FloatProblem | null;
  /**
   * Reserves the disk blocks of the file open as `fd` for `bytes` (Linux: fallocate, which also
   * sets its size; macOS: F_PREALLOCATE). False where the filesystem cannot; throws an Error with
   * `code` ENOSPC/EDQUOT when the disk cannot hold them. Absent from addons built before it.
   */
  preallocate?(fd: number, bytes: number): boolean;
  /**
   * Writes one safetensors shard of a merged export (native/src/merge_file.cc): `head`, then every
   * tensor in order from the base files (`inputs`: open fds), merged or converted, then fdatasync. Resolves when done, stopped by `control[0] = 1` (cancelled)
   * or at the first value the kernels refuse (problem.index: element from the tensor's start);
   * rejects on an I/O error (`code` as Node's; `input`: the base file's index, -1 the output).
   * Absent from addons built before it.
   */
  mergeFile?(job: MergeFileJob): Promise<{ cancelled: boolean; problem: ({ tensor: number } & FloatProblem) | null }>;
  readonly unaryOps: string[];
  readonly binaryOps: string[];
  readonly compareOps: string[];
  setThreads(n: number): number;
  /** 'pool' (default: BLAS single-threaded, the addon's pool splits GEMMs) or 'blas'. */
  setGemmMode(mode: 'pool' | 'blas'): void;
  info(): { threads: number; gemmMode: string; blas: string };
}

export interface MergeFileTensor {
  input: number;
  /** The first byte of its stored data in that file. */
  offset: number;
  srcType: StoredFloat;
  dstType: WritableFloat;
  /** The stored grid of a merged tensor; other tensors are their element count × 1. */
  rows: number;
  cols: number;
  delta?: { a: Float32Array; b: Float32Array; r: number; inF: number; outF: number; scale: number; transposed: boolean };
}

export interface MergeFileJob {
  inputs: number[];
  out: number;
  /** The file's first bytes (the safetensors header); the tensors follow. */
  head: Uint8Array;
  tensors: MergeFileTensor[];
  /** Bytes per block (each a read, a merge and a write), blocks in flight, bytes between fdatasyncs. */
  blockBytes: number;
  slots: number;
  syncBytes: number;
  /** On a SharedArrayBuffer: [0] = 1 stops the job at its next block. */
  control: Int32Array;
  /** On a SharedArrayBuffer: [0] is the bytes written so far. */
  progress: Float64Array;
}

export type AddonLoad = { ok: true; addon: NativeAddon; file: string } | { ok: false; reason: string };

const ADDON_FILE = path.join('native', 'build', 'Release', 'lora_native.node');

/** LORA_STUDIO_NATIVE_ADDON, else native/build/Release/lora_native.node in the first folder above this file that has it. */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.LORA_STUDIO_NATIVE_ADDON) return path.resolve(env.LORA_STUDIO_NATIVE_ADDON);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
    if (fs.existsSync(path.join(dir, 'package.json'))) return null; // the project root, and no build there
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

let cached: AddonLoad | undefined;

/** The addon at addonPath(), loaded once per process. */
export function loadAddon(): AddonLoad {
  if (cached) return cached;
  cached = loadAddonFrom(addonPath());
  return cached;
}

/** Loads the addon from `file` (null: not built); never throws. */
export function loadAddonFrom(file: string | null): AddonLoad {
  if (!file) {
    return {
      ok: false,
      reason:
        `the native addon is not built (no ${ADDON_FILE}); run "node scripts/build-native.mjs" ` +
        '(needs a C++ compiler and OpenBLAS: apt-get install g++ libopenblas-dev)',
    };
  }
  if (!fs.existsSync(file)) return { ok: false, reason: `the native addon ${file} does not exist` };
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    // LORA_STUDIO_NATIVE_THREADS: thread count (default: all cores). LORA_STUDIO_NATIVE_GEMM=blas:
    // let OpenBLAS thread each GEMM itself instead of the addon's pool (for comparisons).
    const threads = Number(process.env.LORA_STUDIO_NATIVE_THREADS);
    if (Number.isInteger(threads) && threads > 0) addon.setThreads(threads);
    if (process.env.LORA_STUDIO_NATIVE_GEMM === 'blas') addon.setGemmMode('blas');
    return { ok: true, addon, file };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `the native addon ${file} failed to load: ${message}` };
  }
}
