/**
 * GGUF v3 constants, as ggml's gguf.h and gguf-py's constants.py define them.
 * Only the tensor types LoRA Studio writes or reads are listed (F32, F16, BF16, Q8_0).
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Bytes of one scalar of each fixed-size value type. */
export const VALUE_TYPE_BYTES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** ggml tensor types (enum ggml_type). */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,
  BF16 = 30,
}

/** Elements per block and bytes per block (ggml's type traits). */
export const GGML_BLOCK: Record<GgmlType, { size: number; bytes: number }> = {
  [GgmlType.F32]: { size: 1, bytes: 4 },
  [GgmlType.F16]: { size: 1, bytes: 2 },
  [GgmlType.BF16]: { size: 1, bytes: 2 },
  [GgmlType.Q8_0]: { size: 32, bytes: 34 }, // f16 scale + 32 × int8
};

export function isGgmlType(t: number): t is GgmlType {
  return t in GGML_BLOCK;
}

export function ggmlTypeName(t: number): string {
  return GgmlType[t] ?? `type ${t}`;
}

/** Bytes of a tensor of `type` whose innermost (row) length is `shape[last]`. */
export function ggmlTensorBytes(type: GgmlType, shape: readonly number[]): number {
  const { size, bytes } = GGML_BLOCK[type];
  const n = shape.reduce((a, b) => a * b, 1);
  const row = shape.length ? shape[shape.length - 1] : 1;
  if (row % size !== 0) throw new Error(`${GgmlType[type]} needs rows that are a multiple of ${size}, got ${row}`);
  return (n / size) * bytes;
}

/** llama.cpp's llama_ftype: general.file_type. */
export enum LlamaFileType {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  MOSTLY_Q8_0 = 7,
  MOSTLY_BF16 = 32,
}

/** tokenizer.ggml.token_type values (llama_token_type). */
export enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/** general.quantization_version: ggml's GGML_QNT_VERSION. */
export const GGML_QUANT_VERSION = 2;
