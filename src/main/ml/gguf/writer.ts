/**
 * GGUF v3 writer (the layout of gguf-py's GGUFWriter):
 *
 *   magic "GGUF" | u32 version | u64 tensor count | u64 metadata count
 *   metadata: (string key, u32 value type, value)*
 *   tensor infos: (string name, u32 n_dims, u64 dims[n_dims] innermost first, u32 type, u64 offset)*
 *   zero padding to the alignment, then each tensor's bytes, each padded to the alignment
 *
 * Strings are u64 byte length + UTF-8 bytes, no terminator. Tensor data is produced one tensor at a
 * time (the caller's `data()` runs when its turn comes), so a model never sits in memory whole.
 * Output goes to any `ByteSink` (an AtomicFileWriter in practice).
 */
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, GgufValueType, VALUE_TYPE_BYTES, ggmlTensorBytes } from './constants';

export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar }
  | { type: GgufValueType.ARRAY; itemType: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar[] };

/** Ordered key → typed value, with helpers named after gguf-py's value types. */
export class GgufMetadata {
  readonly entries = new Map<string, GgufValue>();

  set(key: string, value: GgufValue): this {
    if (!key) throw new Error('GGUF metadata key must not be empty');
    this.entries.set(key, value);
    return this;
  }
  string(key: string, value: string): this {
    return this.set(key, { type: GgufValueType.STRING, value });
  }
  uint32(key: string, value: number): this {
    return this.set(key, { type: GgufValueType.UINT32, value });
  }
  int32(key: string, value: number): this {
    return this.set(key, { type: GgufValueType.INT32, value });
  }
  float32(key: string, value: number): this {
    return this.set(key, { type: GgufValueType.FLOAT32, value });
  }
  bool(key: string, value: boolean): this {
    return this.set(key, { type: GgufValueType.BOOL, value });
  }
  array(key: string, itemType: Exclude<GgufValueType, GgufValueType.ARRAY>, value: GgufScalar[]): this {
    return this.set(key, { type: GgufValueType.ARRAY, itemType, value });
  }
}

export interface GgufTensorToWrite {
  name: string;
  /** PyTorch order (outermost first); written reversed, as ggml counts dimensions. */
  shape: number[];
  type: GgmlType;
  /** The encoded bytes; called once, in order. */
  data: () => Uint8Array;
}

export interface ByteSink {
  write(bytes: Uint8Array): void;
}

const pad = (n: number, align: number) => (align - (n % align)) % align;

/** Serialises the header (everything before the tensor data), including the alignment padding. */
export function encodeGgufHeader(metadata: GgufMetadata, tensors: readonly Omit<GgufTensorToWrite, 'data'>[], alignment = GGUF_DEFAULT_ALIGNMENT): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const enc = new Encoder();
  enc.u32(GGUF_MAGIC);
  enc.u32(GGUF_VERSION);
  enc.u64(tensors.length);
  enc.u64(metadata.entries.size);
  for (const [key, v] of metadata.entries) {
    enc.string(key);
    enc.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      enc.u32(v.itemType);
      enc.u64(v.value.length);
      for (const item of v.value) enc.scalar(v.itemType, item, key);
    } else {
      enc.scalar(v.type, v.value, key);
    }
  }
  const names = new Set<string>();
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`GGUF: duplicate tensor name "${t.name}"`);
    names.add(t.name);
    enc.string(t.name);
    enc.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) enc.u64(d);
    enc.u32(t.type);
    enc.u64(offset);
    offsets.push(offset);
    const bytes = ggmlTensorBytes(t.type, t.shape);
    offset += bytes + pad(bytes, alignment);
  }
  enc.zeros(pad(enc.length, alignment));
  return { header: enc.bytes(), offsets, dataBytes: offset };
}

/**
 * Writes a complete GGUF file to `sink`. `onTensor(i)` runs after tensor i is written (progress,
 * cancellation: throw from it to stop).
 */
export function writeGguf(
  sink: ByteSink,
  metadata: GgufMetadata,
  tensors: readonly GgufTensorToWrite[],
  opts: { alignment?: number; onTensor?: (index: number, bytes: number) => void } = {},
): { bytes: number } {
  const alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const { header, dataBytes } = encodeGgufHeader(metadata, tensors, alignment);
  sink.write(header);
  tensors.forEach((t, i) => {
    const data = t.data();
    const expected = ggmlTensorBytes(t.type, t.shape);
    if (data.length !== expected) throw new Error(`GGUF: tensor "${t.name}" produced ${data.length} bytes, ${GgmlType[t.type]} [${t.shape.join(', ')}] needs ${expected}`);
    sink.write(data);
    const p = pad(data.length, alignment);
    if (p) sink.write(new Uint8Array(p));
    opts.onTensor?.(i, data.length);
  });
  return { bytes: header.length + dataBytes };
}

/** Little-endian growable byte buffer. */
class Encoder {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(1 << 16);
  private view = new DataView(this.cur.buffer);
  private pos = 0;
  private done = 0;
  private readonly utf8 = new TextEncoder();

  get length(): number {
    return this.done + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.done += this.pos;
    this.cur = new Uint8Array(Math.max(1 << 16, n));
    this.view = new DataView(this.cur.buffer);
    this.pos = 0;
  }

  u8(v: number) {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }
  u32(v: number) {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  u64(v: number | bigint) {
    this.ensure(8);
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
      // Two u32 halves: no BigInt per length prefix (a vocabulary has 100k of them).
      this.view.setUint32(this.pos, v % 0x1_0000_0000, true);
      this.view.setUint32(this.pos + 4, Math.floor(v / 0x1_0000_0000), true);
    } else {
      this.view.setBigUint64(this.pos, BigInt(v), true);
    }
    this.pos += 8;
  }
  zeros(n: number) {
    this.ensure(n);
    this.cur.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  raw(b: Uint8Array) {
    this.ensure(b.length);
    this.cur.set(b, this.pos);
    this.pos += b.length;
  }
  string(s: string) {
    // UTF-8 straight into the buffer: at most 3 bytes per UTF-16 unit.
    this.ensure(8 + 3 * s.length);
    const { written } = this.utf8.encodeInto(s, this.cur.subarray(this.pos + 8));
    this.u64(written);
    this.pos += written;
  }

  scalar(type: GgufValueType, v: GgufScalar, key: string) {
    if (type === GgufValueType.STRING && typeof v === 'string') return this.string(v);
    const bad = () => new Error(`GGUF metadata "${key}": ${JSON.stringify(typeof v === 'bigint' ? v.toString() : v)} is not a valid ${GgufValueType[type]}`);
    if (type === GgufValueType.STRING) {
      if (typeof v !== 'string') throw bad();
      return this.string(v);
    }
    if (type === GgufValueType.BOOL) {
      if (typeof v !== 'boolean') throw bad();
      return this.u8(v ? 1 : 0);
    }
    if (type === GgufValueType.UINT64 || type === GgufValueType.INT64) {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw bad();
      this.ensure(8);
      if (type === GgufValueType.UINT64) this.view.setBigUint64(this.pos, BigInt(v), true);
      else this.view.setBigInt64(this.pos, BigInt(v), true);
      this.pos += 8;
      return;
    }
    if (typeof v !== 'number' || Number.isNaN(v)) throw bad();
    const integer = type !== GgufValueType.FLOAT32 && type !== GgufValueType.FLOAT64;
    if (integer && !Number.isInteger(v)) throw bad();
    const n = VALUE_TYPE_BYTES[type];
    if (n === undefined) throw bad();
    this.ensure(n);
    const p = this.pos;
    switch (type) {
      case GgufValueType.UINT8:
        if (v < 0 || v > 0xff) throw bad();
        this.view.setUint8(p, v);
        break;
      case GgufValueType.INT8:
        if (v < -0x80 || v > 0x7f) throw bad();
        this.view.setInt8(p, v);
        break;
      case GgufValueType.UINT16:
        if (v < 0 || v > 0xffff) throw bad();
        this.view.setUint16(p, v, true);
        break;
      case GgufValueType.INT16:
        if (v < -0x8000 || v > 0x7fff) throw bad();
        this.view.setInt16(p, v, true);
        break;
      case GgufValueType.UINT32:
        if (v < 0 || v > 0xffffffff) throw bad();
        this.view.setUint32(p, v, true);
        break;
      case GgufValueType.INT32:
        if (v < -0x80000000 || v > 0x7fffffff) throw bad();
        this.view.setInt32(p, v, true);
        break;
      case GgufValueType.FLOAT32:
        this.view.setFloat32(p, v, true);
        break;
      case GgufValueType.FLOAT64:
        this.view.setFloat64(p, v, true);
        break;
    }
    this.pos += n;
  }

  bytes(): Uint8Array {
    const all = [...this.chunks, this.cur.subarray(0, this.pos)];
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of all) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}
