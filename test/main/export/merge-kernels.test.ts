/**
 * The merge kernels: the JS reference against W + s·B·A computed densely, and the native addon's
 * kernels against the JS reference, bit for bit (every stored type in and out, GPT-2's transposed
 * layout, odd shapes, blocks of rows, in place), including which element a refusal names.
 */
import { describe, expect, it } from 'vitest';
import type { LoraModuleWeights } from '../../../src/main/adapters/peft-files';
import { f32ToBf16Bits } from '../../../src/main/ml/dtypes';
import {
  STORED_BYTES,
  jsMergeKernels,
  nativeMergeKernels,
  storedGrid,
  type LoraDelta,
  type StoredFloat,
  type WritableFloat,
} from '../../../src/main/export/merge-kernels';
import { loadAddon } from '../../../src/main/ml/native/addon';
import { denseDelta, randomArray } from '../adapters/helpers';

const native = nativeMergeKernels();
if (!native) console.warn('native merge kernel tests skipped: the addon is not built (node scripts/build-native.mjs)');

const STORED: StoredFloat[] = ['F32', 'F16', 'BF16', 'F64'];
const WRITABLE: WritableFloat[] = ['F32', 'F16', 'BF16'];

function delta(outF: number, inF: number, r: number, transposed: boolean, seed: number, alpha = 16): LoraDelta {
  const module: LoraModuleWeights = { name: 'model.layers.0.mlp.up_proj', r, alpha, inFeatures: inF, outFeatures: outF, a: randomArray(r * inF, seed, 0.4), b: randomArray(outF * r, seed + 1, 0.2) };
  return { module, scale: alpha / r / 3, transposed };
}

/** `values` stored as `type` (through the JS conversion; F64 holds them exactly). */
function stored(values: Float32Array, type: StoredFloat): Uint8Array {
  if (type === 'F64') return new Uint8Array(Float64Array.from(values).buffer);
  const out = new Uint8Array(values.length * STORED_BYTES[type]);
  jsMergeKernels.convert(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 'F32', out, type);
  return out;
}

function asF32(bytes: Uint8Array, type: WritableFloat): Float32Array {
  const out = new Float32Array(bytes.length / STORED_BYTES[type]);
  jsMergeKernels.convert(bytes, type, new Uint8Array(out.buffer), 'F32');
  return out;
}

/** Both kernels' output for stored rows [rowStart, rowStart + rows) of `w` (fresh buffers each). */
function mergeBoth(d: LoraDelta, w: Float32Array, src: StoredFloat, dst: WritableFloat, rowStart = 0, rows = storedGrid(d).rows) {
  const { cols } = storedGrid(d);
  const n = rows * cols;
  const input = stored(w, src).subarray(rowStart * cols * STORED_BYTES[src], (rowStart + rows) * cols * STORED_BYTES[src]);
  const run = (k: NonNullable<typeof native>) => {
    const out = new Uint8Array(n * STORED_BYTES[dst]);
    const problem = k.mergeRows(input.slice(), src, out, dst, d, rowStart, rows);
    return { out, problem };
  };
  return { js: run(jsMergeKernels), native: native ? run(native) : null };
}

describe('JS reference merge', () => {
  for (const transposed of [false, true]) {
    it(`equals W + s·B·A ${transposed ? '(transposed, GPT-2 Conv1D)' : '(W [out, in])'} to float32 rounding`, () => {
      const d = delta(24, 40, 4, transposed, 3);
      const { rows, cols } = storedGrid(d);
      const w = randomArray(rows * cols, 9, 2);
      const { js } = mergeBoth(d, w, 'F32', 'F32');
      expect(js.problem).toBeNull();
      const got = asF32(js.out, 'F32');
      const dense = denseDelta(d.module, d.scale); // [out, in]
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < cols; c++) {
          const want = w[i * cols + c] + (transposed ? dense[c * 40 + i] : dense[i * 40 + c]);
          expect(Math.abs(got[i * cols + c] - want)).toBeLessThan(1e-6 * (1 + Math.abs(want)));
        }
      }
    });
  }

  it('gives the same bits merged in blocks of rows as whole', () => {
    const d = delta(30, 17, 3, false, 5);
    const w = randomArray(30 * 17, 6);
    const whole = mergeBoth(d, w, 'BF16', 'BF16').js.out;
    const input = stored(w, 'BF16');
    const parts = new Uint8Array(whole.length);
    for (const [start, rows] of [[0, 7], [7, 1], [8, 22]]) {
      const from = input.subarray(start * 17 * 2, (start + rows) * 17 * 2);
      expect(jsMergeKernels.mergeRows(from, 'BF16', parts.subarray(start * 17 * 2, (start + rows) * 17 * 2), 'BF16', d, start, rows)).toBeNull();
    }
    expect(Buffer.from(parts).equals(Buffer.from(whole))).toBe(true);
  });
});

describe.skipIf(!native)('native merge equals the JS reference bit for bit', () => {
  // [out, in, r, transposed]: odd sizes hit every tail of the vector loops; 576 × 1536 is SmolLM's MLP.
  const shapes: [number, number, number, boolean][] = [
    [1, 1, 1, false],
    [7, 5, 1, true],
    [37, 53, 3, false],
    [50, 130, 16, true],
    [64, 65, 8, false],
    [576, 1536, 8, false],
    [1536, 576, 8, true],
  ];
  for (const [outF, inF, r, transposed] of shapes) {
    it(`[${outF}, ${inF}] r=${r}${transposed ? ' transposed' : ''}, every stored type in and out`, () => {
      const d = delta(outF, inF, r, transposed, outF + inF);
      const { rows, cols } = storedGrid(d);
      const w = randomArray(rows * cols, r, 2);
      for (const src of STORED) {
        for (const dst of WRITABLE) {
          const { js, native: nat } = mergeBoth(d, w, src, dst);
          expect(nat?.problem, `${src} → ${dst}`).toBeNull();
          expect(js.problem).toBeNull();
          expect(Buffer.from(nat!.out).equals(Buffer.from(js.out)), `${src} → ${dst}`).toBe(true);
        }
      }
    });
  }

  it('merges a block of rows in the middle, and in place', () => {
    const d = delta(40, 72, 4, true, 11); // stored [72, 40]
    const w = randomArray(72 * 40, 12);
    const { js } = mergeBoth(d, w, 'BF16', 'BF16', 9, 30);
    const inPlace = stored(w, 'BF16').subarray(9 * 40 * 2, 39 * 40 * 2);
    expect(native!.mergeRows(inPlace, 'BF16', inPlace, 'BF16', d, 9, 30)).toBeNull();
    expect(Buffer.from(inPlace).equals(Buffer.from(js.out))).toBe(true);
  });

  it('keeps -0, subnormal and large weights exactly as the reference does', () => {
    const d = delta(8, 48, 2, false, 21);
    const w = randomArray(8 * 48, 22);
    w.set([-0, 0, 1e-40, -1e-45, 3e38, -3e38, 65000, -65000, 1e-8, 6e-5]);
    for (const dst of ['F32', 'BF16'] as const) {
      const { js, native: nat } = mergeBoth(d, w, 'F32', dst);
      expect(nat!.problem).toEqual(js.problem);
      expect(Buffer.from(nat!.out).equals(Buffer.from(js.out))).toBe(true);
    }
  });

  it('rejects sizes that do not match', () => {
    const d = delta(4, 4, 2, false, 1);
    expect(() => native!.mergeRows(new Uint8Array(30), 'F32', new Uint8Array(32), 'F32', d, 0, 2)).toThrow(/rows \* cols/);
    expect(() => native!.mergeRows(new Uint8Array(32), 'F32', new Uint8Array(32), 'F32', d, 3, 2)).toThrow(/past the weight/);
    const buf = new Uint8Array(64);
    expect(() => native!.mergeRows(buf.subarray(0, 32), 'F32', buf.subarray(16, 48), 'F32', d, 0, 2)).toThrow(/overlap/);
  });
});

describe('refusals name the first element in storage order', () => {
  const kernels = [['js', jsMergeKernels] as const, ...(native ? [['native', native] as const] : [])];
  // Large enough that the native kernel splits the rows over its threads.
  const d = delta(512, 300, 4, false, 31);
  const w = randomArray(512 * 300, 32);

  for (const [name, k] of kernels) {
    it(`${name}: NaN/Inf results, in F32 and as stored`, () => {
      const bad = w.slice();
      bad[400 * 300 + 7] = Infinity; // in a later thread's block
      bad[260 * 300 + 299] = NaN; // the first one
      const input = stored(bad, 'F32');
      const out = new Uint8Array(input.length);
      expect(k.mergeRows(input, 'F32', out, 'F32', d, 0, 512)).toEqual({ index: 260 * 300 + 299, kind: 'nonfinite' });

      // Finite in F32 (the delta is lost beside it), Inf as BF16: 0x7f7f8000 rounds up to even.
      const big = w.slice();
      big[100 * 300 + 5] = new Float32Array(new Uint32Array([0x7f7f8000]).buffer)[0];
      const bigIn = stored(big, 'F32');
      expect(k.mergeRows(bigIn, 'F32', new Uint8Array(bigIn.length), 'F32', d, 0, 512)).toBeNull();
      expect(k.mergeRows(bigIn, 'F32', new Uint8Array(bigIn.length / 2), 'BF16', d, 0, 512)).toEqual({ index: 100 * 300 + 5, kind: 'overflow' });
    });

    it(`${name}: values float16 cannot hold`, () => {
      const big = w.slice();
      big[300 * 300 + 1] = 70000;
      big[301 * 300] = -66000;
      const input = stored(big, 'F32');
      expect(k.mergeRows(input, 'F32', new Uint8Array(input.length / 2), 'F16', d, 0, 512)).toEqual({ index: 300 * 300 + 1, kind: 'overflow' });
    });
  }

  it.skipIf(!native)('the addon gives the same bits and names the same element on one thread or all of them', () => {
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    const addon = load.addon;
    const { rows, cols } = storedGrid(d);
    const m = d.module;
    const run = (input: Uint8Array, threads: number) => {
      const out = new Uint8Array(rows * cols * 2);
      const problem = addon.mergeLoraRows(input, 'F32', out, 'BF16', rows, cols, 0, m.a, m.b, m.r, m.inFeatures, m.outFeatures, d.scale, false, threads);
      return { out, problem };
    };
    const input = stored(w, 'F32');
    const one = run(input, 1);
    const all = run(input, 0);
    expect(all.problem).toBeNull();
    expect(Buffer.from(all.out).equals(Buffer.from(one.out))).toBe(true);
    // With two or more threads, rows 0-255 and 256-511 go to different ones.
    const late = w.slice();
    late[480 * 300] = NaN;
    late[450 * 300 + 3] = Infinity;
    const early = late.slice();
    early[100 * 300 + 299] = -Infinity;
    for (const threads of [0, 1]) {
      expect(run(stored(late, 'F32'), threads).problem).toEqual({ index: 450 * 300 + 3, kind: 'nonfinite' });
      expect(run(stored(early, 'F32'), threads).problem).toEqual({ index: 100 * 300 + 299, kind: 'nonfinite' });
    }
  });

  it.skipIf(!native)('both kernels name the same element for random overflows', () => {
    for (let trial = 0; trial < 20; trial++) {
      const big = w.slice();
      const r = randomArray(3, 100 + trial, 1);
      for (const x of r) big[Math.floor((x + 0.5) * big.length)] = 3.4e38;
      const input = stored(big, 'F32');
      for (const dst of WRITABLE) {
        const a = jsMergeKernels.mergeRows(input, 'F32', new Uint8Array((input.length / 4) * STORED_BYTES[dst]), dst, d, 0, 512);
        const b = native!.mergeRows(input, 'F32', new Uint8Array((input.length / 4) * STORED_BYTES[dst]), dst, d, 0, 512);
        expect(b).toEqual(a);
      }
    }
  });
});

describe('conversion', () => {
  // Edge values of every type: zeros, subnormals, the largest finite values, Inf, NaN.
  const edges = new Float32Array([
    0, -0, 1, -1, 1e-45, -1e-40, 5.96e-8, 6.1e-5, 65504, -65504, 65519, 65520, 1e5, 3.3895314e38, 3.4028235e38, -3.4028235e38, Infinity, -Infinity, NaN,
    new Float32Array(new Uint32Array([0x7f7f7fff]).buffer)[0], new Float32Array(new Uint32Array([0x7f7f8000]).buffer)[0], new Float32Array(new Uint32Array([0xffc12345]).buffer)[0],
  ]);

  it('JS reference: float16 refuses above 65504 (Inf too), bfloat16 only finite values that round to Inf', () => {
    const f16 = jsMergeKernels.convert(stored(new Float32Array([1, 65504, -65505, Infinity]), 'F32'), 'F32', new Uint8Array(8), 'F16');
    expect(f16).toEqual({ index: 2, kind: 'overflow' });
    expect(jsMergeKernels.convert(stored(new Float32Array([NaN, 65504]), 'F32'), 'F32', new Uint8Array(4), 'F16')).toBeNull();
    const limit = new Float32Array(new Uint32Array([0x7f7f7fff, 0x7f7f8000]).buffer);
    expect(f32ToBf16Bits(limit[0])).toBe(0x7f7f);
    expect(jsMergeKernels.convert(stored(new Float32Array([Infinity, -Infinity, NaN, limit[0]]), 'F32'), 'F32', new Uint8Array(8), 'BF16')).toBeNull();
    expect(jsMergeKernels.convert(stored(new Float32Array([Infinity, limit[1]]), 'F32'), 'F32', new Uint8Array(4), 'BF16')).toEqual({ index: 1, kind: 'overflow' });
  });

  it.skipIf(!native)('native encodes a sweep of float32 bit patterns to float16 and bfloat16 as dtypes.ts does', () => {
    // Every 251st pattern up to each type's largest storable value (ties, subnormals, rounding
    // carries into the exponent), both signs; for bfloat16 also ±Inf and NaNs, which it stores.
    const sweep = (top: number, extra: number[]) => {
      const bits: number[] = [];
      for (let b = 0; b <= top; b += 251) bits.push(b, (b | 0x80000000) >>> 0);
      bits.push(top, (top | 0x80000000) >>> 0, ...extra);
      return new Float32Array(Uint32Array.from(bits).buffer);
    };
    const cases: [WritableFloat, Float32Array][] = [
      ['F16', sweep(0x477fe000, [])], // 65504, the largest the export stores as float16
      ['BF16', sweep(0x7f7f7fff, [0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffbfffff])],
    ];
    for (const [dst, values] of cases) {
      const input = stored(values, 'F32');
      const a = new Uint8Array(values.length * 2);
      const b = new Uint8Array(values.length * 2);
      expect(jsMergeKernels.convert(input, 'F32', a, dst)).toBeNull();
      expect(native!.convert(input, 'F32', b, dst)).toBeNull();
      const ha = new Uint16Array(a.buffer);
      const hb = new Uint16Array(b.buffer);
      const first = ha.findIndex((h, i) => h !== hb[i]);
      expect(first, `${dst}: 0x${new Uint32Array(values.buffer)[first]?.toString(16)}`).toBe(-1);
    }
  });

  it.skipIf(!native)('native equals the JS reference for every type pair, edge values included', () => {
    const values = new Float32Array(1000 + edges.length);
    values.set(randomArray(1000, 77, 1e3));
    values.set(edges, 1000);
    // Each edge value alone too, so the first refusal of every kind is compared.
    const runs = [values, ...Array.from(edges, (x) => new Float32Array([1, 2, x, 3]))];
    for (const v of runs) {
      for (const src of STORED) {
        const input = stored(v, src);
        for (const dst of WRITABLE) {
          const a = new Uint8Array(v.length * STORED_BYTES[dst]);
          const b = new Uint8Array(a.length);
          const pa = jsMergeKernels.convert(input, src, a, dst);
          const pb = native!.convert(input, src, b, dst);
          expect(pb, `${src} → ${dst} of ${v[2]}`).toEqual(pa);
          if (!pa) expect(Buffer.from(b).equals(Buffer.from(a)), `${src} → ${dst}`).toBe(true);
        }
      }
    }
  });
});
