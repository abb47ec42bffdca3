/**
 * The merged export writes the same bytes whichever kernels run (the native addon's, or the JS
 * reference where the addon is not built), and both shard writers (staged-file.ts on libuv's
 * threads; the addon's mergeFile) reassemble the file exactly; refusals name the tensor and
 * element; a full disk and a cancel leave nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { exportMerged, type MergedDtype } from '../../../src/main/export/merged';
import { ExportCancelled, describeFailure, noopContext, type JobContext } from '../../../src/main/export/job';
import { defaultMergeKernels, jsMergeKernels, nativeMergeKernels, storedGrid, type StoredFloat, type WritableFloat } from '../../../src/main/export/merge-kernels';
import { f32ToBf16, f32ToF16 } from '../../../src/main/ml/dtypes';
import { loadAddon, type MergeFileTensor } from '../../../src/main/ml/native/addon';
import { StagedFile } from '../../../src/main/export/staged-file';
import { TINY_GPT2, TINY_LLAMA } from '../adapters/fixtures';
import { randomArray } from '../adapters/helpers';
import { GPT2_MODULES, LLAMA_MODULES, writeTestAdapter } from './helpers';

/** Set to make the addon look unbuilt, so the export takes the JS reference kernels. */
const addonSwitch = vi.hoisted(() => ({ off: false }));
vi.mock('../../../src/main/ml/native/addon', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/main/ml/native/addon')>();
  return { ...real, loadAddon: () => (addonSwitch.off ? { ok: false as const, reason: 'switched off by the test' } : real.loadAddon()) };
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'merged-native-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const llamaAdapter = writeTestAdapter(path.join(tmp, 'llama-adapter'), LLAMA_MODULES, { seed: 7, scale: 0.6 });
const gpt2Adapter = writeTestAdapter(path.join(tmp, 'gpt2-adapter'), GPT2_MODULES, { seed: 8, scale: 0.8, fanInFanOut: true });

async function exportWith(kernels: 'native' | 'js', adapterDir: string, baseDir: string, dtype: MergedDtype, name: string, extra: object = {}): Promise<string> {
  addonSwitch.off = kernels === 'js';
  try {
    const outDir = path.join(tmp, `${name}-${kernels}`);
    await exportMerged({ adapterDir, baseDir, outDir, dtype, chatTemplate: null, adapterName: 'a', baseModelName: 'b', verify: false, ...extra }, noopContext);
    return outDir;
  } finally {
    addonSwitch.off = false;
  }
}

describe.skipIf(!nativeMergeKernels())('merged export: native kernels and the JS reference write the same files', () => {
  it('the switch really takes the export to the JS kernels', () => {
    expect(defaultMergeKernels().name).toBe('native');
    addonSwitch.off = true;
    expect(defaultMergeKernels().name).toBe('js');
    addonSwitch.off = false;
  });

  const cases: [string, string, string][] = [
    ['tiny-random-llama', llamaAdapter, TINY_LLAMA],
    ['tiny-gpt2 (Conv1D, transposed)', gpt2Adapter, TINY_GPT2],
  ];
  for (const [model, adapter, base] of cases) {
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      it(`${model}, ${dtype}`, async () => {
        const name = `${path.basename(base)}-${dtype}`;
        const a = await exportWith('native', adapter, base, dtype, name);
        const b = await exportWith('js', adapter, base, dtype, name);
        const bytes = (dir: string) => fs.readFileSync(path.join(dir, 'model.safetensors'));
        expect(bytes(a).equals(bytes(b))).toBe(true);
      });
    }
  }

  it('sharded by size, the shards are the same too', async () => {
    const a = await exportWith('native', llamaAdapter, TINY_LLAMA, 'bf16', 'sharded', { maxShardBytes: 1 << 20 });
    const b = await exportWith('js', llamaAdapter, TINY_LLAMA, 'bf16', 'sharded', { maxShardBytes: 1 << 20 });
    const shards = fs.readdirSync(a).filter((f) => f.endsWith('.safetensors')).sort();
    expect(shards.length).toBeGreaterThan(1);
    for (const f of shards) expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f)))).toBe(true);
  });
});

describe('merged export refusals', () => {
  for (const kernels of ['js', ...(nativeMergeKernels() ? ['native' as const] : [])] as const) {
    it(`${kernels}: a merged value beyond float16 names the tensor and element, and leaves nothing`, async () => {
      // Deltas of a few hundred thousand: finite, but not storable as float16.
      const adapter = writeTestAdapter(path.join(tmp, `big-${kernels}`), LLAMA_MODULES.slice(0, 1), { seed: 9, scale: 600 });
      const outDir = path.join(tmp, `f16-overflow-${kernels}`);
      const err = await exportWith(kernels, adapter, TINY_LLAMA, 'f16', `f16-overflow-${kernels}`).catch((e: unknown) => e);
      expect(String(err)).toMatch(/model\.layers\.0\.self_attn\.q_proj\.weight: value -?[0-9.e+]+ \(element \d+\) does not fit float16 \(max 65504; export as bf16 or f32\)/);
      expect(fs.existsSync(outDir)).toBe(false);
      expect(fs.readdirSync(tmp).filter((n) => n.includes('partial'))).toEqual([]);
    });
  }
});

describe('staged file', () => {
  it('reassembles regions of every size across many small buffers, filled out of order', async () => {
    const file = path.join(tmp, 'staged.bin');
    const data = new Uint8Array(randomArray(40_000, 3).buffer);
    const out = new StagedFile(file, 4096);
    let at = 0;
    let pending: { region: Uint8Array; from: number; end: number } | null = null;
    for (const n of [8, 0, 4096, 1, 4095, 3000, 5000, 17, 4096, 4096]) {
      if (n > out.capacity) {
        // write() completes everything before it: fill what is pending first.
        pending?.region.set(data.subarray(pending.from, pending.from + pending.region.length));
        pending = null;
        await out.write(data.subarray(at, at + n));
        at += n;
        continue;
      }
      // Each region is filled after the next one is handed out, as the export reads one piece
      // while it merges the one before.
      const region = await out.region(n);
      if (pending) {
        pending.region.set(data.subarray(pending.from, pending.from + pending.region.length));
        out.complete(pending.end);
      }
      pending = { region, from: at, end: out.size };
      at += n;
    }
    pending!.region.set(data.subarray(pending!.from, pending!.from + pending!.region.length));
    out.complete(pending!.end);
    await out.write(data.subarray(at));
    expect(out.size).toBe(data.length);
    await out.close();
    expect(fs.readFileSync(file).equals(Buffer.from(data))).toBe(true);
    await expect(out.region(4)).rejects.toThrow(/already closed/);
  });

  it('refuses a region larger than its buffer, and to close with bytes never completed', async () => {
    const out = new StagedFile(path.join(tmp, 'small.bin'), 64);
    await expect(out.region(65)).rejects.toThrow(/over the staging buffer's 64/);
    await out.region(10);
    await expect(out.close()).rejects.toThrow(/bytes 0\.\.10 were never completed/);
    await out.abort();
  });

  it('reports a failed background write, and abort() still closes', async () => {
    const out = new StagedFile(path.join(tmp, 'failing.bin'), 1024);
    const spy = vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => {
      const callback = args[args.length - 1] as (err: Error) => void;
      process.nextTick(callback, Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
    }) as typeof fs.write);
    try {
      const fill = async () => {
        await out.write(new Uint8Array(5000)); // buffers go out while the next ones fill
        await out.close();
      };
      await expect(fill()).rejects.toThrow(/EIO/);
    } finally {
      spy.mockRestore();
      await out.abort();
    }
  });
});

/** The addon's shard writer, where it is built (else the export takes writeShard above). */
const mergeFile = (() => {
  const native = loadAddon();
  return native.ok && native.addon.mergeFile ? native.addon.mergeFile.bind(native.addon) : null;
})();

/** Watches the addon's mergeFile (the export looks it up on each shard). */
function spyOnMergeFile() {
  const native = loadAddon();
  if (!native.ok) throw new Error(native.reason);
  return vi.spyOn(native.addon as Required<typeof native.addon>, 'mergeFile');
}

describe.skipIf(!mergeFile)('native shard writer (mergeFile)', () => {
  const run = mergeFile!;
  const control = () => new Int32Array(new SharedArrayBuffer(4));
  const progress = () => new Float64Array(new SharedArrayBuffer(8));

  /** n random values stored as `type` (small enough for every type). */
  function stored(type: StoredFloat, n: number, seed: number): Uint8Array {
    const v = randomArray(n, seed, 2);
    if (type === 'F32') return new Uint8Array(v.buffer);
    if (type === 'F64') return new Uint8Array(Float64Array.from(v).buffer);
    return new Uint8Array((type === 'F16' ? f32ToF16(v) : f32ToBf16(v)).buffer);
  }

  it('writes what the JS kernels compute, across blocks far smaller than the tensors and tensors far smaller than a block', async () => {
    // Every source and output type, merged and not, W [out, in] and Wᵀ (GPT-2), tiny and large.
    const specs: { src: StoredFloat; dst: WritableFloat; out: number; inF: number; r: number; delta: boolean; transposed?: boolean }[] = [
      { src: 'BF16', dst: 'BF16', out: 96, inF: 80, r: 4, delta: true },
      { src: 'F32', dst: 'BF16', out: 3, inF: 5, r: 2, delta: true },
      { src: 'F16', dst: 'F32', out: 40, inF: 33, r: 3, delta: true, transposed: true },
      { src: 'F64', dst: 'F16', out: 7, inF: 9, r: 0, delta: false },
      { src: 'BF16', dst: 'BF16', out: 1, inF: 11, r: 0, delta: false },
      { src: 'F32', dst: 'F32', out: 64, inF: 64, r: 8, delta: true },
      { src: 'F16', dst: 'F16', out: 2000, inF: 1, r: 0, delta: false },
      { src: 'F32', dst: 'F16', out: 5, inF: 1200, r: 2, delta: true }, // one row is over a block
    ];
    const base = path.join(tmp, 'mergefile-base.bin');
    const pad = new Uint8Array(37); // tensors at odd offsets
    const chunks: Uint8Array[] = [pad];
    let at = pad.length;
    const head = new Uint8Array(randomArray(29, 99).buffer).subarray(0, 101);
    const tensors: MergeFileTensor[] = [];
    const expected: Uint8Array[] = [head];
    specs.forEach((s, i) => {
      const numelOf = s.out * s.inF;
      const bytes = stored(s.src, numelOf, 10 + i);
      chunks.push(bytes);
      const dst = new Uint8Array(numelOf * { F32: 4, F16: 2, BF16: 2 }[s.dst]);
      if (s.delta) {
        const module = { name: `m${i}`, r: s.r, alpha: 2 * s.r, inFeatures: s.inF, outFeatures: s.out, a: randomArray(s.r * s.inF, 50 + i, 0.3), b: randomArray(s.out * s.r, 70 + i, 0.3) };
        const d = { module, scale: 1.5, transposed: s.transposed ?? false };
        const { rows, cols } = storedGrid(d);
        expect(jsMergeKernels.mergeRows(bytes, s.src, dst, s.dst, d, 0, rows)).toBeNull();
        tensors.push({ input: 0, offset: at, srcType: s.src, dstType: s.dst, rows, cols, delta: { a: module.a, b: module.b, r: s.r, inF: s.inF, outF: s.out, scale: d.scale, transposed: d.transposed } });
      } else {
        expect(jsMergeKernels.convert(bytes, s.src, dst, s.dst)).toBeNull();
        tensors.push({ input: 0, offset: at, srcType: s.src, dstType: s.dst, rows: numelOf, cols: 1 });
      }
      expected.push(dst);
      at += bytes.length;
    });
    fs.writeFileSync(base, Buffer.concat(chunks));
    const want = Buffer.concat(expected);

    for (const [blockBytes, slots, syncBytes] of [[4096, 2, 8192], [1 << 20, 4, 0]]) {
      const file = path.join(tmp, `mergefile-out-${blockBytes}.bin`);
      const input = fs.openSync(base, 'r');
      const out = fs.openSync(file, 'w');
      const written = progress();
      try {
        const result = await run({ inputs: [input], out, head, tensors, blockBytes, slots, syncBytes, control: control(), progress: written });
        expect(result).toEqual({ cancelled: false, problem: null });
      } finally {
        fs.closeSync(input);
        fs.closeSync(out);
      }
      expect(fs.readFileSync(file).equals(want)).toBe(true);
      expect(written[0]).toBe(want.length - head.length);
    }
  });

  it('stops before its next block when control[0] is 1 (cancel), having written only the header', async () => {
    const base = path.join(tmp, 'mergefile-cancel.bin');
    fs.writeFileSync(base, stored('F32', 4096, 1));
    const file = path.join(tmp, 'mergefile-cancel-out.bin');
    const input = fs.openSync(base, 'r');
    const out = fs.openSync(file, 'w');
    const stop = control();
    Atomics.store(stop, 0, 1);
    try {
      const result = await run({ inputs: [input], out, head: new Uint8Array(8), tensors: [{ input: 0, offset: 0, srcType: 'F32', dstType: 'BF16', rows: 4096, cols: 1 }], blockBytes: 4096, slots: 2, syncBytes: 0, control: stop, progress: progress() });
      expect(result).toEqual({ cancelled: true, problem: null });
    } finally {
      fs.closeSync(input);
      fs.closeSync(out);
    }
    expect(fs.statSync(file).size).toBe(8);
  });

  it('names the base file that ends before a tensor does (ESHORT) and its refusals by tensor and element', async () => {
    const base = path.join(tmp, 'mergefile-short.bin');
    fs.writeFileSync(base, stored('F32', 100, 2)); // 400 bytes
    const out = fs.openSync(path.join(tmp, 'mergefile-short-out.bin'), 'w');
    const input = fs.openSync(base, 'r');
    try {
      const short = run({ inputs: [input], out, head: new Uint8Array(0), tensors: [{ input: 0, offset: 200, srcType: 'F32', dstType: 'F32', rows: 100, cols: 1 }], blockBytes: 4096, slots: 2, syncBytes: 0, control: control(), progress: progress() });
      await expect(short).rejects.toMatchObject({ code: 'ESHORT', input: 0, syscall: 'read' });
      // 1e6 does not fit float16: the second tensor's element 3.
      const big = new Float32Array([1, 2, 3, 4, 5, 6, 1e6, 8]);
      fs.writeFileSync(base, new Uint8Array(big.buffer));
      const refused = await run({ inputs: [input], out, head: new Uint8Array(0), tensors: [0, 16].map((offset) => ({ input: 0, offset, srcType: 'F32' as const, dstType: 'F16' as const, rows: 4, cols: 1 })), blockBytes: 4096, slots: 2, syncBytes: 0, control: control(), progress: progress() });
      expect(refused).toEqual({ cancelled: false, problem: { tensor: 1, index: 2, kind: 'overflow' } });
    } finally {
      fs.closeSync(input);
      fs.closeSync(out);
    }
  });

  it('a worker thread terminated while it writes takes only itself down', async () => {
    // The export runs in a worker thread; terminating one mid-write must not crash the process
    // (the addon's completion used to throw into a dying environment: std::terminate).
    const base = path.join(tmp, 'mergefile-terminate.bin');
    fs.writeFileSync(base, new Uint8Array(32 << 20));
    const addonFile = loadAddon().ok ? (loadAddon() as { file: string }).file : '';
    const code = `
      const fs = require('node:fs');
      const { parentPort } = require('node:worker_threads');
      const addon = require(${JSON.stringify(addonFile)});
      const input = fs.openSync(${JSON.stringify(base)}, 'r');
      const out = fs.openSync(${JSON.stringify(path.join(tmp, 'mergefile-terminate-out.bin'))}, 'w');
      addon.mergeFile({ inputs: [input], out, head: new Uint8Array(8), tensors: [{ input: 0, offset: 0, srcType: 'F32', dstType: 'BF16', rows: 8 << 20, cols: 1 }],
        blockBytes: 65536, slots: 2, syncBytes: 1 << 20, control: new Int32Array(new SharedArrayBuffer(4)), progress: new Float64Array(new SharedArrayBuffer(8)) });
      parentPort.postMessage('writing');`;
    for (let i = 0; i < 3; i++) {
      const worker = new Worker(code, { eval: true });
      await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
    }
    expect(process.exitCode ?? 0).toBe(0); // still here
  });

  it('in the export: a full disk is reported as such and leaves nothing', async () => {
    // The shard is opened on /dev/full, where every write fails with ENOSPC.
    const real = fs.openSync;
    const spy = vi.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) =>
      String(p).endsWith('.safetensors') && flags === 'wx' ? real('/dev/full', 'w') : real(p, flags ?? 'r', mode)) as typeof fs.openSync);
    const outDir = path.join(tmp, 'native-disk-full');
    const used = spyOnMergeFile();
    try {
      const err = await exportMerged({ adapterDir: llamaAdapter, baseDir: TINY_LLAMA, outDir, dtype: 'bf16', chatTemplate: null, adapterName: 'a', baseModelName: 'b', verify: false }, noopContext).catch((e: unknown) => e);
      expect(describeFailure(err, outDir)).toEqual({ kind: 'disk-full', message: expect.stringMatching(/^the disk is full: not enough space in .* to write the export \(.*model\.safetensors\)/) });
      expect(used).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
      used.mockRestore();
    }
    expect(fs.existsSync(outDir)).toBe(false);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('partial'))).toEqual([]);
  });

  it('in the export: a cancel while the addon writes stops the export and leaves nothing', async () => {
    // Cancels at the first check after the addon started (the writer's first progress tick): the
    // addon stops at its next block, or, done already, the export stops right after it.
    let calls = 0;
    let started = false;
    const ctx: JobContext = {
      progress: (_done, _total, phase) => {
        if (phase === 'write') started = true;
      },
      checkCancelled: () => {
        calls++;
        if (started) throw new ExportCancelled();
      },
    };
    const outDir = path.join(tmp, 'native-cancel');
    const used = spyOnMergeFile();
    const err = await exportMerged({ adapterDir: llamaAdapter, baseDir: TINY_LLAMA, outDir, dtype: 'bf16', chatTemplate: null, adapterName: 'a', baseModelName: 'b', verify: false }, ctx).catch((e: unknown) => e);
    expect(used).toHaveBeenCalledTimes(1);
    used.mockRestore();
    expect(err).toBeInstanceOf(ExportCancelled);
    expect(calls).toBeGreaterThan(1);
    expect(fs.existsSync(outDir)).toBe(false);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('partial'))).toEqual([]);
  });
});
