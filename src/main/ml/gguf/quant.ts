/**
 * Tensor data encodings for GGUF: F32, F16, BF16 and Q8_0, and the way back to F32.
 *
 * Q8_0 (ggml-quants.c quantize_row_q8_0_ref, gguf-py quants.Q8_0): blocks of 32 values along a
 * row; per block d = max|x| / 127 stored as F16, q_i = round(x_i / d) as int8 (round half away
 * from zero). The arithmetic is float32, as in the reference, so the bytes match llama.cpp's
 * converter exactly. Dequantised x_i = f16(d) · q_i.
 */
import { f16ToF32, f32ToBf16, f32ToF16, f32ToF16Bits, bf16ToF32 } from '../dtypes';
import { loadAddon } from '../native/addon';
import { GGML_BLOCK, GgmlType } from './constants';

const fround = Math.fround;

export const Q8_0_BLOCK = 32;

/**
 * Encodes `data` (row-major, rows of length rowLen) as Q8_0 blocks: on the native addon where it
 * is built (native/src/merge.cc quantize_q8_0, threaded; the same bytes), else quantizeQ8_0Js.
 */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  if (data.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${data.length}`);
  const native = loadAddon();
  if (!native.ok || typeof native.addon.quantizeQ8_0 !== 'function') return quantizeQ8_0Js(data);
  const out = new Uint8Array((data.length / Q8_0_BLOCK) * GGML_BLOCK[GgmlType.Q8_0].bytes);
  native.addon.quantizeQ8_0(data, out);
  return out;
}

/** The JS encoder: the reference the native one is tested against. */
export function quantizeQ8_0Js(data: Float32Array): Uint8Array {
  if (data.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${data.length}`);
  const nBlocks = data.length / Q8_0_BLOCK;
  const out = new Uint8Array(nBlocks * GGML_BLOCK[GgmlType.Q8_0].bytes);
  const view = new DataView(out.buffer);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < nBlocks; b++) {
    const base = b * Q8_0_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(data[base + i]));
    const d = fround(amax / 127);
    const id = d === 0 ? 0 : fround(1 / d);
    const o = b * 34;
    view.setUint16(o, f32ToF16Bits(d), true);
    for (let i = 0; i < Q8_0_BLOCK; i++) qs[o + 2 + i] = roundHalfAway(fround(data[base + i] * id));
  }
  return out;
}

/** numpy's round-half-away-from-zero as gguf-py's np_roundf computes it. */
function roundHalfAway(x: number): number {
  const a = Math.abs(x);
  const floored = Math.floor(a);
  const r = floored + Math.floor(2 * (a - floored));
  return x < 0 ? -r : r;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const qs = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scale = new Uint16Array(1);
  const scaleF = new Float32Array(1);
  for (let b = 0; b < n / Q8_0_BLOCK; b++) {
    const o = b * 34;
    scale[0] = view.getUint16(o, true);
    f16ToF32(scale, scaleF);
    const d = scaleF[0];
    for (let i = 0; i < Q8_0_BLOCK; i++) out[b * Q8_0_BLOCK + i] = d * qs[o + 2 + i];
  }
  return out;
}

/** F32 values → the bytes of a GGUF tensor of `type`. */
export function encodeTensor(data: Float32Array, type: GgmlType): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    case GgmlType.F16:
      return new Uint8Array(f32ToF16(data).buffer);
    case GgmlType.BF16:
      return new Uint8Array(f32ToBf16(data).buffer);
    case GgmlType.Q8_0:
      return quantizeQ8_0(data);
  }
}

/** The bytes of a GGUF tensor of `type` with `n` elements → F32 values. */
export function decodeTensor(bytes: Uint8Array, type: GgmlType, n: number): Float32Array {
  switch (type) {
    case GgmlType.F32: {
      const copy = new Uint8Array(n * 4);
      copy.set(bytes.subarray(0, n * 4));
      return new Float32Array(copy.buffer);
    }
    case GgmlType.F16:
      return f16ToF32(new Uint16Array(bytes.slice(0, n * 2).buffer));
    case GgmlType.BF16:
      return bf16ToF32(new Uint16Array(bytes.slice(0, n * 2).buffer));
    case GgmlType.Q8_0:
      return dequantizeQ8_0(bytes, n);
  }
}
