import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointError, CheckpointReader, readCheckpointLayout } from '../../../src/main/ml/checkpoint';
import { SafetensorsReader, readSafetensorsHeader, writeSafetensors } from '../../../src/main/ml/safetensors';
import { GPT2_DIR, LLAMA_DIR, tempDir } from './helpers';

const PYTHON = '/usr/bin/python3';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy, torch'], { encoding: 'utf8' }).status === 0;

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir('safetensors-')));
afterEach(() => cleanup());

/** A file with the given header text (or object) and `dataBytes` bytes of data. */
function rawFile(name: string, header: string | object, dataBytes: number, declaredLength?: bigint): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
  return file;
}

function openError(file: string): string {
  try {
    SafetensorsReader.open(file).close();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${file} opened without error`);
}

describe('SafetensorsReader on the real fixtures', () => {
  it('reads the llama checkpoint header and a tensor', () => {
    const r = SafetensorsReader.open(path.join(LLAMA_DIR, 'model.safetensors'));
    expect(r.tensors.size).toBe(21);
    expect(r.metadata).toEqual({ format: 'pt' });
    const info = r.info('model.layers.0.self_attn.q_proj.weight');
    expect(info.dtype).toBe('F32');
    expect(info.shape).toEqual([16, 16]);
    const w = r.readFloat32('model.norm.weight');
    expect(w.length).toBe(16);
    expect(w.every(Number.isFinite)).toBe(true);
    r.close();
  });

  it('reads the GPT-2 checkpoint (28 tensors, Conv1D shapes)', () => {
    const { tensors } = readSafetensorsHeader(path.join(GPT2_DIR, 'model.safetensors'));
    expect(tensors.size).toBe(28);
    expect(tensors.get('transformer.h.0.attn.c_attn.weight')!.shape).toEqual([2, 6]);
  });
});

describe('SafetensorsReader dtypes', () => {
  it('reads integer and byte tensors raw, and refuses them as floats', () => {
    const header = {
      ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] },
      flags: { dtype: 'U8', shape: [3], data_offsets: [16, 19] },
      half: { dtype: 'F16', shape: [2], data_offsets: [19, 23] },
    };
    const text = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    const data = Buffer.alloc(23);
    data.writeBigInt64LE(-5n, 0);
    data.writeBigInt64LE(1n << 40n, 8);
    data.set([1, 0, 255], 16);
    data.writeUInt16LE(0x3c00, 19); // 1.0
    data.writeUInt16LE(0xc000, 21); // -2.0
    const file = path.join(dir, 'ints.safetensors');
    fs.writeFileSync(file, Buffer.concat([len, text, data]));
    const r = SafetensorsReader.open(file);
    expect(Array.from(r.read('ids').data as BigInt64Array)).toEqual([-5n, 1n << 40n]);
    expect(Array.from(r.read('flags').data as Uint8Array)).toEqual([1, 0, 255]);
    expect(Array.from(r.read('half').data as Float32Array)).toEqual([1, -2]);
    expect(() => r.readFloat32('ids')).toThrow(/ints\.safetensors: tensor "ids" is I64, not a float type/);
    r.close();
  });
});

describe('SafetensorsReader rejects malformed files, naming the file and the cause', () => {
  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  it('file shorter than the length field', () => {
    const file = path.join(dir, 'short.safetensors');
    fs.writeFileSync(file, Buffer.alloc(3));
    expect(openError(file)).toMatch(/short\.safetensors: .*too short/);
  });

  it('header length past the end of the file', () => {
    const file = rawFile('len.safetensors', { a: f32([1], 0, 4) }, 4, 10_000n);
    expect(openError(file)).toMatch(/len\.safetensors: header length 10000 runs past the end of the file/);
  });

  it('non-JSON header', () => {
    expect(openError(rawFile('nojson.safetensors', '{"a": [1, 2', 0))).toMatch(/nojson\.safetensors: header is not JSON/);
    expect(openError(rawFile('nobrace.safetensors', '[1, 2]', 0))).toMatch(/header is not JSON/);
  });

  it('offsets outside the buffer', () => {
    const file = rawFile('outside.safetensors', { a: f32([2], 0, 8) }, 4);
    expect(openError(file)).toMatch(/outside\.safetensors: tensor "a": data_offsets \[0, 8\] lie outside the 4-byte data buffer/);
  });

  it('overlapping offsets', () => {
    const file = rawFile('overlap.safetensors', { a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12);
    expect(openError(file)).toMatch(/overlap\.safetensors: tensors "a" and "b" overlap/);
  });

  it('offsets that leave part of the buffer uncovered', () => {
    expect(openError(rawFile('gap.safetensors', { a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12))).toMatch(
      /gap\.safetensors: data_offsets do not cover the buffer: bytes 4\.\.8/,
    );
    expect(openError(rawFile('tail.safetensors', { a: f32([1], 0, 4) }, 8))).toMatch(/bytes 4\.\.8 belong to no tensor/);
  });

  it('shape / byte length mismatch', () => {
    const file = rawFile('shape.safetensors', { a: f32([3], 0, 8) }, 8);
    expect(openError(file)).toMatch(/shape\.safetensors: tensor "a": shape \[3\] of F32 needs 12 bytes but data_offsets span 8/);
  });

  it('unknown dtype', () => {
    const file = rawFile('dtype.safetensors', { a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16);
    expect(openError(file)).toMatch(/dtype\.safetensors: tensor "a": unknown dtype "F128"/);
  });

  it('duplicate tensor names', () => {
    const file = rawFile('dup.safetensors', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
    expect(openError(file)).toMatch(/dup\.safetensors: duplicate tensor name "a"/);
  });

  it('a name nested inside a value does not count as a duplicate', () => {
    const file = rawFile('nested.safetensors', { __metadata__: { a: 'x' }, a: f32([1], 0, 4) }, 4);
    expect(() => SafetensorsReader.open(file).close()).not.toThrow();
  });

  it('non-string metadata', () => {
    const file = rawFile('meta.safetensors', { __metadata__: { format: 1 }, a: f32([1], 0, 4) }, 4);
    expect(openError(file)).toMatch(/meta\.safetensors: __metadata__ value for "format" is not a string/);
  });
});

describe('writeSafetensors', () => {
  it('round-trips F32/F16/BF16 through our reader, with format "pt" metadata and an 8-aligned buffer', () => {
    const file = path.join(dir, 'out.safetensors');
    const values = Float32Array.from([0, -0, 1, -2.5, 1e-3, 65504, 3.14159]);
    let pulled = 0;
    writeSafetensors(file, [
      { name: 'f32', dtype: 'F32', shape: [7], data: values },
      { name: 'f16', dtype: 'F16', shape: [7], data: () => (pulled++, values) },
      { name: 'bf16', dtype: 'BF16', shape: [1, 7], data: values },
    ], { note: 'hi' });
    expect(pulled).toBe(1);
    const r = SafetensorsReader.open(file);
    expect(r.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(Array.from(r.readFloat32('f32'))).toEqual(Array.from(values));
    expect(Array.from(r.readFloat32('f16'))).toEqual([0, -0, 1, -2.5, 1049 * 2 ** -20, 65504, 3.140625]);
    expect(Array.from(r.readFloat32('bf16'))).toEqual([0, -0, 1, -2.5, 0.00099945068359375, 65536, 3.140625]);
    expect(r.info('bf16').shape).toEqual([1, 7]);
    r.close();
    const headerLen = Number(fs.readFileSync(file).readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
  });

  it('leaves no file behind when producing a tensor fails', () => {
    const file = path.join(dir, 'fail.safetensors');
    expect(() =>
      writeSafetensors(file, [{ name: 'a', dtype: 'F32', shape: [2], data: () => { throw new Error('boom'); } }]),
    ).toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a data length that does not match the shape', () => {
    expect(() => writeSafetensors(path.join(dir, 'x.safetensors'), [{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(
      /x\.safetensors: tensor "a": 2 values given for shape \[3\]/,
    );
  });

  it.skipIf(!hasNumpy)('is read by an independent reader (numpy) with torch-identical F16/BF16 rounding', () => {
    // Values that exercise rounding: ties to even, subnormals, overflow, NaN/Inf, signed zero.
    const special = [0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 65519, 65520, 1e6, -1e6,
      2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14 - 2 ** -25, 1e-8, 5.96e-8, 6.1e-5, Infinity, -Infinity, NaN, 3.4e38, 1.17e-38];
    const random = Array.from({ length: 2000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 13) - 6));
    const values = Float32Array.from([...special, ...random]);
    const file = path.join(dir, 'indep.safetensors');
    writeSafetensors(file, [
      { name: 'x.f32', dtype: 'F32', shape: [values.length], data: values },
      { name: 'x.f16', dtype: 'F16', shape: [values.length], data: values },
      { name: 'x.bf16', dtype: 'BF16', shape: [values.length], data: values },
    ]);
    const script = `
import json, struct, sys
import numpy as np, torch
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
assert header['__metadata__'] == {'format': 'pt'}, header['__metadata__']
def raw(name):
    e = header[name]; b, end = e['data_offsets']
    return data[8 + n + b: 8 + n + end], e
f32, e = raw('x.f32'); assert e['dtype'] == 'F32'
x = torch.from_numpy(np.frombuffer(f32, dtype='<f4').copy())
h, e = raw('x.f16'); assert e['dtype'] == 'F16' and e['shape'] == [x.numel()]
want16 = x.to(torch.float16).view(torch.int16).numpy().view('<u2')
got16 = np.frombuffer(h, dtype='<u2')
nan = torch.isnan(x).numpy()
assert (got16[~nan] == want16[~nan]).all(), np.nonzero(got16 != want16)
assert np.isnan(np.frombuffer(h, dtype='<f2')[nan]).all()
b, e = raw('x.bf16'); assert e['dtype'] == 'BF16'
wantb = x.to(torch.bfloat16).view(torch.int16).numpy().view('<u2')
gotb = np.frombuffer(b, dtype='<u2')
assert (gotb[~nan] == wantb[~nan]).all(), np.nonzero(gotb != wantb)
ends = sorted(tuple(v['data_offsets']) for k, v in header.items() if k != '__metadata__')
assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:])) and ends[-1][1] == len(data) - 8 - n
print('ok', x.numel())
`;
    const res = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe(`ok ${values.length}`);
  });
});

describe('sharded checkpoints (model.safetensors.index.json)', () => {
  function writeShards(map: Record<string, string>, shards: Record<string, string[]>): void {
    for (const [file, names] of Object.entries(shards)) {
      writeSafetensors(path.join(dir, file), names.map((name, i) => ({ name, dtype: 'F32' as const, shape: [2], data: Float32Array.from([i, i + 0.5]) })));
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
  }
  const SHARD1 = 'model-00001-of-00002.safetensors';
  const SHARD2 = 'model-00002-of-00002.safetensors';

  it('reads tensors from the shard the index names', () => {
    writeShards({ a: SHARD1, b: SHARD1, c: SHARD2 }, { [SHARD1]: ['a', 'b'], [SHARD2]: ['c'] });
    const layout = readCheckpointLayout(dir);
    expect([...layout.tensors.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(layout.files.map((f) => path.basename(f))).toEqual([SHARD1, SHARD2]);
    const reader = new CheckpointReader(layout);
    expect(Array.from(reader.readFloat32('b'))).toEqual([1, 1.5]);
    expect(Array.from(reader.readFloat32('c'))).toEqual([0, 0.5]);
    reader.close();
  });

  it('missing shard file', () => {
    writeShards({ a: SHARD1, c: SHARD2 }, { [SHARD1]: ['a'] });
    expect(() => readCheckpointLayout(dir)).toThrow(/model\.safetensors\.index\.json: shard file model-00002-of-00002\.safetensors is missing/);
  });

  it('tensor listed but absent from its shard', () => {
    writeShards({ a: SHARD1, b: SHARD1 }, { [SHARD1]: ['a'] });
    expect(() => readCheckpointLayout(dir)).toThrow(/tensor "b" is listed for model-00001-of-00002\.safetensors but absent from it/);
  });

  it('extra tensor not in the weight map', () => {
    writeShards({ a: SHARD1 }, { [SHARD1]: ['a', 'stray'] });
    expect(() => readCheckpointLayout(dir)).toThrow(CheckpointError);
    expect(() => readCheckpointLayout(dir)).toThrow(/extra tensor "stray" in model-00001-of-00002\.safetensors \(not listed in weight_map\)/);
  });

  it('invalid index JSON', () => {
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": 3}');
    expect(() => readCheckpointLayout(dir)).toThrow(/model\.safetensors\.index\.json: weight_map: /);
  });

  it('a folder with only PyTorch weights', () => {
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), '');
    expect(() => readCheckpointLayout(dir)).toThrow(/no model\.safetensors .*found pytorch_model\.bin/);
  });
});
