import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gguf as hfGguf } from '@huggingface/gguf';
import { GgmlType, GgufValueType } from '../../../../src/main/ml/gguf/constants';
import { dequantizeQ8_0, quantizeQ8_0, quantizeQ8_0Js } from '../../../../src/main/ml/gguf/quant';
import { loadAddon } from '../../../../src/main/ml/native/addon';
import { GgufError, GgufReader } from '../../../../src/main/ml/gguf/reader';
import { GgufMetadata, writeGguf, type ByteSink } from '../../../../src/main/ml/gguf/writer';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fileSink(file: string): ByteSink & { close(): void } {
  const fd = fs.openSync(file, 'w');
  return {
    write: (b) => void fs.writeSync(fd, b),
    close: () => fs.closeSync(fd),
  };
}

describe('Q8_0', () => {
  it('quantises a block by hand: d = amax/127, q = round(x/d)', () => {
    const x = Float32Array.from({ length: 32 }, (_, i) => i);
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(34);
    const d = new DataView(bytes.buffer).getUint16(0, true);
    // 31/127 = 0.24409… as F16: exponent -3 (bias 15 → 12), mantissa round(0.9527…·1024) = 976
    expect(d).toBe((12 << 10) | 976);
    const q = Array.from(new Int8Array(bytes.buffer, 2, 32));
    expect(q).toEqual(Array.from({ length: 32 }, (_, i) => Math.round((i * 127) / 31)));
  });

  it('matches the bytes of gguf-py / ggml (generated with numpy from quants.Q8_0)', () => {
    const x = new Float32Array(96);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) * 0.37 + (i % 5 === 0 ? 0.5 : 0);
    for (let i = 0; i < 32; i++) x[64 + i] = ((-1) ** i * i) / 7;
    // prettier-ignore
    const expected = [186, 41, 135, 132, 140, 148, 157, 176, 173, 182, 190, 198, 218, 215, 223, 231, 239, 3, 0, 8, 17, 25, 44, 41, 50, 58, 66, 86, 83, 91, 99, 108, 127, 124,
      0, 0, ...new Array(32).fill(0),
      119, 40, 0, 252, 8, 244, 16, 236, 25, 227, 33, 219, 41, 211, 49, 203, 57, 195, 66, 186, 74, 178, 82, 170, 90, 162, 98, 154, 107, 145, 115, 137, 123, 129];
    expect(Array.from(quantizeQ8_0(x))).toEqual(expected);
    expect(Array.from(quantizeQ8_0Js(x))).toEqual(expected);
  });

  it.skipIf(!loadAddon().ok)('the native encoder writes the JS encoder\'s bytes: ties, zeros, subnormals, huge values', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const blocks = 4096;
    const x = new Float32Array(blocks * 32);
    for (let b = 0; b < blocks; b++) {
      const scale = [1, 1e-3, 1e3, 1e-40, 3e38, 0][b % 6];
      for (let i = 0; i < 32; i++) x[b * 32 + i] = rnd() * scale;
      // a value on a rounding tie (x·127/amax = k + 0.5) and the block's max
      if (b % 3 === 0) x[b * 32] = 127 * scale;
      if (b % 3 === 0) x[b * 32 + 1] = 2.5 * scale;
    }
    expect(Buffer.from(quantizeQ8_0(x)).equals(Buffer.from(quantizeQ8_0Js(x)))).toBe(true);
  });

  it('round-trips within half a quantisation step', () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3) * (i < 32 ? 2 : 0.01));
    const back = dequantizeQ8_0(quantizeQ8_0(x), 64);
    for (let b = 0; b < 2; b++) {
      const amax = Math.max(...Array.from(x.subarray(b * 32, b * 32 + 32), Math.abs));
      for (let i = b * 32; i < b * 32 + 32; i++) expect(Math.abs(back[i] - x[i])).toBeLessThanOrEqual((amax / 127) * 0.5 + amax * 1e-3);
    }
  });
});

describe('GGUF writer and reader', () => {
  const file = path.join(tmp, 'mixed.gguf');
  const f32 = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1); // [2, 3]
  const f16 = Float32Array.from({ length: 8 }, (_, i) => i / 8); // exact in F16
  const q8 = Float32Array.from({ length: 64 }, (_, i) => (i % 32) - 16); // [2, 32]
  const meta = new GgufMetadata()
    .string('general.architecture', 'llama')
    .string('general.name', 'tést ✓')
    .uint32('llama.block_count', 2)
    .float32('llama.rope.freq_base', 10000)
    .int32('some.negative', -5)
    .bool('tokenizer.ggml.add_bos_token', true)
    .array('tokenizer.ggml.tokens', GgufValueType.STRING, ['<s>', 'a', 'ü'])
    .array('tokenizer.ggml.scores', GgufValueType.FLOAT32, [0, -1.5, -2])
    .array('tokenizer.ggml.token_type', GgufValueType.INT32, [3, 1, 1]);

  it('writes a file that our reader and @huggingface/gguf both read back', async () => {
    const sink = fileSink(file);
    const seen: number[] = [];
    writeGguf(
      sink,
      meta,
      [
        { name: 'a.weight', shape: [2, 3], type: GgmlType.F32, data: () => new Uint8Array(f32.buffer) },
        { name: 'b.weight', shape: [8], type: GgmlType.F16, data: () => new Uint8Array(new Uint16Array(Array.from(f16, (v) => (v === 0 ? 0 : f16Bits(v)))).buffer) },
        { name: 'c.weight', shape: [2, 32], type: GgmlType.Q8_0, data: () => quantizeQ8_0(q8) },
      ],
      { onTensor: (i) => seen.push(i) },
    );
    sink.close();
    expect(seen).toEqual([0, 1, 2]);

    const r = GgufReader.open(file);
    try {
      expect(r.version).toBe(3);
      expect(r.get('general.name')).toBe('tést ✓');
      expect(r.get('llama.block_count')).toBe(2);
      expect(r.get('some.negative')).toBe(-5);
      expect(r.get('tokenizer.ggml.add_bos_token')).toBe(true);
      expect(r.get('tokenizer.ggml.tokens')).toEqual(['<s>', 'a', 'ü']);
      expect(r.get('tokenizer.ggml.scores')).toEqual([0, -1.5, -2]);
      expect(r.metadata.get('tokenizer.ggml.token_type')?.itemType).toBe(GgufValueType.INT32);
      expect(r.tensors.map((t) => [t.name, t.shape, t.type])).toEqual([
        ['a.weight', [2, 3], GgmlType.F32],
        ['b.weight', [8], GgmlType.F16],
        ['c.weight', [2, 32], GgmlType.Q8_0],
      ]);
      for (const t of r.tensors) expect((t.fileOffset - r.dataStart) % 32).toBe(0);
      expect(Array.from(r.readFloat32('a.weight'))).toEqual(Array.from(f32));
      expect(Array.from(r.readFloat32('b.weight'))).toEqual(Array.from(f16));
      expect(Array.from(r.readFloat32('c.weight'))).toEqual(Array.from(dequantizeQ8_0(quantizeQ8_0(q8), 64)));
    } finally {
      r.close();
    }

    const ref = await hfGguf(file, { allowLocalFile: true });
    const md = ref.metadata as unknown as Record<string, unknown>;
    expect(md.version).toBe(3);
    expect(md['general.architecture']).toBe('llama');
    expect(md['general.name']).toBe('tést ✓');
    expect(md['tokenizer.ggml.tokens']).toEqual(['<s>', 'a', 'ü']);
    expect(ref.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype])).toEqual([
      ['a.weight', [3, 2], GgmlType.F32],
      ['b.weight', [8], GgmlType.F16],
      ['c.weight', [32, 2], GgmlType.Q8_0],
    ]);
    const reopened = GgufReader.open(file);
    expect(ref.tensorInfos.map((t) => Number(t.offset) + Number(ref.tensorDataOffset))).toEqual(reopened.tensors.map((t) => t.fileOffset));
    reopened.close();
  });

  it('rejects a file that is not GGUF, a truncated one, and a misaligned offset', () => {
    const bad = path.join(tmp, 'bad.gguf');
    fs.writeFileSync(bad, 'GGML....');
    expect(() => GgufReader.open(bad)).toThrow(GgufError);
    expect(() => GgufReader.open(bad)).toThrow(/not a GGUF file/);

    const whole = fs.readFileSync(file);
    fs.writeFileSync(bad, whole.subarray(0, whole.length - 40));
    expect(() => GgufReader.open(bad)).toThrow(/runs past the end of the file/);

    fs.writeFileSync(bad, whole.subarray(0, 30));
    expect(() => GgufReader.open(bad)).toThrow(/unexpected end of file/);
  });

  it('refuses values that do not fit their declared type', () => {
    const sink = { write() {} };
    expect(() => writeGguf(sink, new GgufMetadata().uint32('x', -1), [])).toThrow(/not a valid UINT32/);
    expect(() => writeGguf(sink, new GgufMetadata().uint32('x', 1.5), [])).toThrow(/not a valid UINT32/);
    expect(() => writeGguf(sink, new GgufMetadata(), [{ name: 't', shape: [2, 16], type: GgmlType.Q8_0, data: () => new Uint8Array(34) }])).toThrow(/multiple of 32/);
  });
});

function f16Bits(v: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, v);
  const x = buf.getUint32(0);
  const e = ((x >>> 23) & 0xff) - 127 + 15;
  return ((x >>> 16) & 0x8000) | (e << 10) | ((x >>> 13) & 0x3ff);
}
