/**
 * GGUF v2/v3 reader: parses and validates the header (metadata and tensor infos) when a file is
 * opened, then reads tensors one at a time (F32, F16, BF16, Q8_0 decode to F32). Used to re-read
 * every GGUF the studio writes before it says "done", and to inspect GGUF files users bring.
 *
 * Rejected with an error naming the file and the cause: wrong magic, version 1, a string or array
 * running past the end, duplicate keys or tensor names, unknown value types, tensor data that is
 * misaligned, overlapping or outside the file.
 */
import fs from 'node:fs';
import { GGML_BLOCK, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgmlType, GgufValueType, isGgmlType, ggmlTypeName } from './constants';
import { decodeTensor } from './quant';

export class GgufError extends Error {
  constructor(
    readonly file: string,
    cause: string,
  ) {
    super(`${file}: ${cause}`);
    this.name = 'GgufError';
  }
}

export type GgufReadValue = number | bigint | boolean | string | GgufReadValue[];

export interface GgufEntry {
  type: GgufValueType;
  /** For arrays: the element type. */
  itemType?: GgufValueType;
  value: GgufReadValue;
}

export interface GgufTensorInfo {
  name: string;
  /** PyTorch order (outermost first), i.e. the stored dims reversed. */
  shape: number[];
  type: number;
  /** Absolute position of the first byte in the file. */
  fileOffset: number;
  /** null when the type is not one this reader knows. */
  byteLength: number | null;
}

const MAX_STRING = 1 << 30;
const MAX_COUNT = 1 << 28;

export class GgufReader {
  private fd: number | null;

  private constructor(
    readonly file: string,
    fd: number,
    readonly version: number,
    readonly metadata: Map<string, GgufEntry>,
    readonly tensors: GgufTensorInfo[],
    readonly alignment: number,
    readonly dataStart: number,
  ) {
    this.fd = fd;
  }

  static open(file: string): GgufReader {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const p = new HeaderParser(file, fd, size);
      const h = p.parse();
      return new GgufReader(file, fd, h.version, h.metadata, h.tensors, h.alignment, h.dataStart);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** A metadata value, or undefined. */
  get(key: string): GgufReadValue | undefined {
    return this.metadata.get(key)?.value;
  }

  tensor(name: string): GgufTensorInfo {
    const t = this.tensors.find((x) => x.name === name);
    if (!t) throw new GgufError(this.file, `no tensor named "${name}"`);
    return t;
  }

  readBytes(name: string): Uint8Array {
    const t = this.tensor(name);
    if (t.byteLength === null) throw new GgufError(this.file, `tensor "${name}" has ${ggmlTypeName(t.type)}, which this reader cannot decode`);
    if (this.fd === null) throw new GgufError(this.file, 'reader is closed');
    const out = new Uint8Array(t.byteLength);
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, out.length - done, t.fileOffset + done);
      if (n === 0) throw new GgufError(this.file, `unexpected end of file in tensor "${name}"`);
      done += n;
    }
    return out;
  }

  /** The tensor's values as F32 (dequantised), row-major in PyTorch order. */
  readFloat32(name: string): Float32Array {
    const t = this.tensor(name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    return decodeTensor(this.readBytes(name), t.type as GgmlType, n);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Sequential reads from a file descriptor through a 1 MiB window. */
class HeaderParser {
  private buf = Buffer.alloc(1 << 20);
  private bufStart = 0;
  private bufLen = 0;
  pos = 0;

  constructor(
    private readonly file: string,
    private readonly fd: number,
    private readonly size: number,
  ) {}

  fail(cause: string): never {
    throw new GgufError(this.file, cause);
  }

  private need(n: number): number {
    if (this.pos + n > this.size) this.fail(`unexpected end of file at byte ${this.pos} (header needs ${n} more bytes)`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.bufLen) {
      if (n > this.buf.length) this.buf = Buffer.alloc(n);
      this.bufStart = this.pos;
      this.bufLen = fs.readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - this.pos), this.pos);
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u8 = () => this.buf.readUInt8(this.need(1));
  i8 = () => this.buf.readInt8(this.need(1));
  u16 = () => this.buf.readUInt16LE(this.need(2));
  i16 = () => this.buf.readInt16LE(this.need(2));
  u32 = () => this.buf.readUInt32LE(this.need(4));
  i32 = () => this.buf.readInt32LE(this.need(4));
  f32 = () => this.buf.readFloatLE(this.need(4));
  f64 = () => this.buf.readDoubleLE(this.need(8));
  u64big = () => this.buf.readBigUInt64LE(this.need(8));
  i64big = () => this.buf.readBigInt64LE(this.need(8));

  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  u64(what: string): number {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  string(what: string): string {
    const n = this.u64(`length of ${what}`);
    if (n > MAX_STRING) this.fail(`${what} claims ${n} bytes`);
    const at = this.need(n);
    return this.buf.toString('utf8', at, at + n);
  }

  value(type: number, key: string, depth = 0): GgufReadValue {
    switch (type) {
      case GgufValueType.UINT8:
        return this.u8();
      case GgufValueType.INT8:
        return this.i8();
      case GgufValueType.UINT16:
        return this.u16();
      case GgufValueType.INT16:
        return this.i16();
      case GgufValueType.UINT32:
        return this.u32();
      case GgufValueType.INT32:
        return this.i32();
      case GgufValueType.FLOAT32:
        return this.f32();
      case GgufValueType.FLOAT64:
        return this.f64();
      case GgufValueType.BOOL: {
        const b = this.u8();
        if (b > 1) this.fail(`metadata "${key}": bool value ${b} is not 0 or 1`);
        return b === 1;
      }
      case GgufValueType.UINT64: {
        const v = this.u64big();
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case GgufValueType.INT64: {
        const v = this.i64big();
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
      }
      case GgufValueType.STRING:
        return this.string(`metadata "${key}" string`);
      case GgufValueType.ARRAY: {
        if (depth > 4) this.fail(`metadata "${key}": arrays nested too deep`);
        const itemType = this.u32();
        const n = this.u64(`metadata "${key}" array length`);
        if (n > MAX_COUNT) this.fail(`metadata "${key}": array of ${n} items is too long`);
        const out: GgufReadValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(itemType, key, depth + 1);
        return out;
      }
      default:
        return this.fail(`metadata "${key}": unknown value type ${type}`);
    }
  }

  parse() {
    const magic = this.u32();
    if (magic !== GGUF_MAGIC) this.fail(`not a GGUF file (magic 0x${magic.toString(16).padStart(8, '0')}, expected "GGUF")`);
    const version = this.u32();
    if (version !== 2 && version !== 3) this.fail(`GGUF version ${version} is not supported (only 2 and 3)`);
    const nTensors = this.u64('tensor count');
    const nKv = this.u64('metadata count');
    if (nTensors > MAX_COUNT || nKv > MAX_COUNT) this.fail(`implausible counts (${nTensors} tensors, ${nKv} metadata entries)`);

    const metadata = new Map<string, GgufEntry>();
    for (let i = 0; i < nKv; i++) {
      const key = this.string('metadata key');
      if (!key) this.fail(`metadata entry ${i} has an empty key`);
      if (metadata.has(key)) this.fail(`duplicate metadata key "${key}"`);
      const type = this.u32();
      const at = this.pos;
      if (type === GgufValueType.ARRAY) {
        const itemType = this.u32();
        this.pos = at; // re-read the item type inside value()
        metadata.set(key, { type, itemType, value: this.value(type, key) });
      } else {
        metadata.set(key, { type, value: this.value(type, key) });
      }
    }

    const alignEntry = metadata.get('general.alignment');
    const alignment = alignEntry ? Number(alignEntry.value) : GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) this.fail(`general.alignment ${alignment} is not a positive multiple of 8`);

    const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = this.string('tensor name');
      if (names.has(name)) this.fail(`duplicate tensor name "${name}"`);
      names.add(name);
      const nDims = this.u32();
      if (nDims < 1 || nDims > 4) this.fail(`tensor "${name}": ${nDims} dimensions (ggml allows 1 to 4)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const v = this.u64(`tensor "${name}" dimension`);
        if (v < 1) this.fail(`tensor "${name}": dimension ${d} is 0`);
        dims.push(v);
      }
      const type = this.u32();
      const offset = this.u64(`tensor "${name}" offset`);
      if (offset % alignment !== 0) this.fail(`tensor "${name}": offset ${offset} is not a multiple of the alignment ${alignment}`);
      infos.push({ name, dims, type, offset });
    }
    const dataStart = this.pos + ((alignment - (this.pos % alignment)) % alignment);

    const tensors: GgufTensorInfo[] = infos.map((t) => {
      const shape = [...t.dims].reverse();
      let byteLength: number | null = null;
      if (isGgmlType(t.type)) {
        const { size, bytes } = GGML_BLOCK[t.type];
        if (t.dims[0] % size !== 0) this.fail(`tensor "${t.name}": rows of ${t.dims[0]} are not a multiple of the ${ggmlTypeName(t.type)} block (${size})`);
        byteLength = (t.dims.reduce((a, b) => a * b, 1) / size) * bytes;
        if (dataStart + t.offset + byteLength > this.size) {
          this.fail(`tensor "${t.name}": data (bytes ${dataStart + t.offset}..${dataStart + t.offset + byteLength}) runs past the end of the file (${this.size} bytes)`);
        }
      }
      return { name: t.name, shape, type: t.type, fileOffset: dataStart + t.offset, byteLength };
    });

    const spans = tensors.filter((t) => t.byteLength !== null).sort((a, b) => a.fileOffset - b.fileOffset);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1];
      if (spans[i].fileOffset < prev.fileOffset + (prev.byteLength as number)) this.fail(`tensors "${prev.name}" and "${spans[i].name}" overlap`);
    }
    return { version, metadata, tensors, alignment, dataStart };
  }
}
