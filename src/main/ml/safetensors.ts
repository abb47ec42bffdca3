/**
 * safetensors: a strict reader and a streaming writer.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then one flat byte buffer.
 * The reader validates the whole header when a file is opened (so a bad file fails before any
 * weight is read) and then reads tensors one at a time from the file descriptor: a model is never
 * loaded into memory as a whole file. Float tensors (F32/F16/BF16/F64) read as Float32Array;
 * other dtypes read raw.
 *
 * The writer takes the list of tensors up front (name, dtype, shape) and pulls each tensor's data
 * only when it is its turn, so a caller can produce one tensor at a time (merged weights, for
 * example) without holding them all. Output dtypes F32/F16/BF16; metadata always carries
 * `"format": "pt"` because transformers refuses files without it.
 *
 * Not handled: big-endian hosts; F8 conversion (F8 tensors can be read raw only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { AtomicFileWriter } from '../storage/files';
import {
  DTYPE_BYTES,
  FLOAT_DTYPES,
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  isDType,
  type DType,
} from './dtypes';

/** Header entry of one tensor; offsets are absolute positions in the file. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** First byte of the data in the file (8 + N + data_offsets[0]). */
  fileOffset: number;
  byteLength: number;
}

/** The safetensors spec caps the header at 100 MB; anything larger is a corrupt length field. */
const MAX_HEADER_BYTES = 100_000_000;
/** Chunk for converting 16-bit floats while reading, so no second full-size copy is made. */
const CONVERT_CHUNK_BYTES = 16 << 20;

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    cause: string,
  ) {
    super(`${file}: ${cause}`);
    this.name = 'SafetensorsError';
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---- reader ---------------------------------------------------------------------------------

export class SafetensorsReader {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  private fd: number | null;

  private constructor(
    readonly file: string,
    fd: number,
    tensors: Map<string, TensorInfo>,
    metadata: Record<string, string>,
  ) {
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates `file`; throws SafetensorsError naming the file and the cause. */
  static open(file: string): SafetensorsReader {
    const fd = fs.openSync(file, 'r');
    try {
      const { tensors, metadata } = parseHeader(file, fd, fs.fstatSync(fd).size);
      return new SafetensorsReader(file, fd, tensors, metadata);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(this.file, `no tensor named "${name}"`);
    return info;
  }

  /** The tensor's bytes as stored. */
  readBytes(name: string): Uint8Array {
    const info = this.info(name);
    const out = new Uint8Array(info.byteLength);
    this.readInto(info, out, 0);
    return out;
  }

  /**
   * Part of a tensor's stored bytes: `out.length` bytes from `byteOffset` into the tensor, read
   * straight into `out` (so a caller can reuse one buffer for many tensors).
   */
  readBytesInto(name: string, out: Uint8Array, byteOffset = 0): void {
    const info = this.info(name);
    if (!(byteOffset >= 0 && byteOffset + out.length <= info.byteLength)) {
      throw new SafetensorsError(this.file, `bytes ${byteOffset}..${byteOffset + out.length} lie outside tensor "${name}" (${info.byteLength} bytes)`);
    }
    this.readInto(info, out, byteOffset);
  }

  /**
   * readBytesInto on libuv's thread pool, so the caller's thread can work meanwhile (the merged
   * export reads the next tensor while it merges this one). Positional reads: several may run at once.
   */
  async readBytesIntoAsync(name: string, out: Uint8Array, byteOffset = 0): Promise<void> {
    const info = this.info(name);
    if (!(byteOffset >= 0 && byteOffset + out.length <= info.byteLength)) {
      throw new SafetensorsError(this.file, `bytes ${byteOffset}..${byteOffset + out.length} lie outside tensor "${name}" (${info.byteLength} bytes)`);
    }
    let done = 0;
    while (done < out.length) {
      if (this.fd === null) throw new SafetensorsError(this.file, 'reader is closed');
      const fd = this.fd;
      const n = await new Promise<number>((resolve, reject) => {
        fs.read(fd, out, done, Math.min(out.length - done, 1 << 30), info.fileOffset + byteOffset + done, (err, bytes) => (err ? reject(err) : resolve(bytes)));
      });
      if (n === 0) throw new SafetensorsError(this.file, `unexpected end of file while reading "${info.name}"`);
      done += n;
    }
  }

  /** A float tensor (F32, F16, BF16, F64) converted to F32. */
  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    if (!FLOAT_DTYPES.includes(info.dtype)) {
      throw new SafetensorsError(this.file, `tensor "${name}" is ${info.dtype}, not a float type`);
    }
    const n = numel(info.shape);
    if (info.dtype === 'F32') {
      const out = new Float32Array(n);
      this.readInto(info, new Uint8Array(out.buffer), 0);
      return out;
    }
    const out = new Float32Array(n);
    const elemBytes = DTYPE_BYTES[info.dtype];
    const chunkElems = Math.max(1, Math.floor(CONVERT_CHUNK_BYTES / elemBytes));
    const chunk = new Uint8Array(Math.min(n, chunkElems) * elemBytes);
    for (let start = 0; start < n; start += chunkElems) {
      const count = Math.min(chunkElems, n - start);
      const bytes = chunk.subarray(0, count * elemBytes);
      this.readInto(info, bytes, start * elemBytes);
      const dst = out.subarray(start, start + count);
      if (info.dtype === 'F16') f16ToF32(new Uint16Array(bytes.buffer, 0, count), dst);
      else if (info.dtype === 'BF16') bf16ToF32(new Uint16Array(bytes.buffer, 0, count), dst);
      else dst.set(new Float64Array(bytes.buffer, 0, count));
    }
    return out;
  }

  /** Any tensor: floats as Float32Array, integers/bools as the matching typed array. */
  read(name: string): { dtype: DType; shape: number[]; data: TensorData } {
    const info = this.info(name);
    if (FLOAT_DTYPES.includes(info.dtype)) return { dtype: info.dtype, shape: info.shape, data: this.readFloat32(name) };
    const b = this.readBytes(name).buffer;
    const views: Partial<Record<DType, () => TensorData>> = {
      I64: () => new BigInt64Array(b),
      U64: () => new BigUint64Array(b),
      I32: () => new Int32Array(b),
      U32: () => new Uint32Array(b),
      I16: () => new Int16Array(b),
      U16: () => new Uint16Array(b),
      I8: () => new Int8Array(b),
    };
    return { dtype: info.dtype, shape: info.shape, data: (views[info.dtype] ?? (() => new Uint8Array(b)))() };
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private readInto(info: TensorInfo, out: Uint8Array, offsetInTensor: number): void {
    if (this.fd === null) throw new SafetensorsError(this.file, 'reader is closed');
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, Math.min(out.length - done, 1 << 30), info.fileOffset + offsetInTensor + done);
      if (n === 0) throw new SafetensorsError(this.file, `unexpected end of file while reading "${info.name}"`);
      done += n;
    }
  }
}

export type TensorData =
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** Reads only the header of `file` (no tensor data). */
export function readSafetensorsHeader(file: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fd = fs.openSync(file, 'r');
  try {
    return parseHeader(file, fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(file: string, fd: number, fileSize: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fail = (cause: string): never => {
    throw new SafetensorsError(file, cause);
  };
  if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  fs.readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(fileSize - 8)) fail(`header length ${headerLen} runs past the end of the file (${fileSize} bytes)`);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is over the 100 MB limit`);
  const n = Number(headerLen);
  const headerBytes = Buffer.alloc(n);
  fs.readSync(fd, headerBytes, 0, n, 8);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header is not JSON (does not start with "{")');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');
  const dup = firstDuplicateKey(text);
  if (dup !== null) fail(`duplicate tensor name "${dup}" in header`);

  const bufferSize = fileSize - 8 - n;
  const dataStart = 8 + n;
  const tensors = new Map<string, TensorInfo>();
  const spans: { name: string; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};

  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(entry, fail);
      continue;
    }
    if (typeof entry !== 'object' || entry === null) return fail(`tensor "${name}": entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) return fail(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return fail(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      return fail(`tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > bufferSize) fail(`tensor "${name}": data_offsets [${begin}, ${end}] lie outside the ${bufferSize}-byte data buffer`);
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) {
      fail(`tensor "${name}": shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], fileOffset: dataStart + begin, byteLength: end - begin });
    spans.push({ name, begin, end });
  }

  // Entries, sorted by position, must tile the buffer exactly: no overlap, no gap.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | null = null;
  for (const s of spans) {
    if (s.begin < pos) fail(`tensors "${prev}" and "${s.name}" overlap (bytes ${s.begin}..${pos})`);
    if (s.begin > pos) fail(`data_offsets do not cover the buffer: bytes ${pos}..${s.begin} belong to no tensor`);
    pos = s.end;
    prev = s.name;
  }
  if (pos !== bufferSize) fail(`data_offsets do not cover the buffer: bytes ${pos}..${bufferSize} belong to no tensor`);
  return { tensors, metadata };
}

function parseMetadata(entry: unknown, fail: (cause: string) => never): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
  for (const [k, v] of Object.entries(entry as object)) {
    if (typeof v !== 'string') fail(`__metadata__ value for "${k}" is not a string`);
  }
  return entry as Record<string, string>;
}

/**
 * JSON.parse keeps the last of two equal keys silently; the spec forbids duplicates, so scan the
 * keys of the top-level object (the header is already known to be valid JSON).
 */
function firstDuplicateKey(json: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return null;
}

// ---- writer ---------------------------------------------------------------------------------

export type WritableDType = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  name: string;
  /** Stored type; F32 data is rounded (nearest even) to F16/BF16. */
  dtype: WritableDType;
  shape: number[];
  /**
   * F32 values, or bytes already encoded in `dtype` (a tensor copied through unchanged).
   * A function is called once, when this tensor's turn comes; the array may be released afterwards.
   */
  data: Float32Array | Uint8Array | (() => Float32Array | Uint8Array);
}

/**
 * Writes `tensors` (in the given order) to `file` atomically: a temp file renamed into place only
 * when every tensor was written. Metadata always includes `"format": "pt"`.
 */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): void {
  const head = safetensorsHeader(file, tensors, metadata);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const out = new AtomicFileWriter(file);
  try {
    out.write(head);
    for (const t of tensors) {
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (data instanceof Uint8Array) {
        const want = numel(t.shape) * DTYPE_BYTES[t.dtype];
        if (data.byteLength !== want) {
          throw new SafetensorsError(file, `tensor "${t.name}": ${data.byteLength} bytes given for ${t.dtype} shape [${t.shape.join(', ')}] (${want} expected)`);
        }
        out.write(data);
        continue;
      }
      if (data.length !== numel(t.shape)) {
        throw new SafetensorsError(file, `tensor "${t.name}": ${data.length} values given for shape [${t.shape.join(', ')}]`);
      }
      out.write(encodeFloats(data, t.dtype));
    }
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

/**
 * The bytes before a safetensors file's data buffer (u64 header length, then the JSON header)
 * for `tensors` stored back to back in this order. `file` only names the file in errors.
 */
export function safetensorsHeader(file: string, tensors: readonly Pick<TensorToWrite, 'name' | 'dtype' | 'shape'>[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  const names = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new SafetensorsError(file, `duplicate tensor name "${t.name}"`);
    if (t.name === '__metadata__') throw new SafetensorsError(file, 'a tensor cannot be named __metadata__');
    names.add(t.name);
    const bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data buffer starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const out = Buffer.alloc(8 + Buffer.byteLength(json));
  out.writeBigUInt64LE(BigInt(out.length - 8));
  out.write(json, 8, 'utf8');
  return out;
}

function encodeFloats(data: Float32Array, dtype: WritableDType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const half = dtype === 'F16' ? f32ToF16(data) : f32ToBf16(data);
  return new Uint8Array(half.buffer);
}

export { DTYPE_BYTES, type DType };
