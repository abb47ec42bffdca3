/**
 * The merged export writes the same bytes whichever kernels run (the native addon's, or the JS
 * reference where the addon is not built), and the shard writer's pieces and buffers reassemble
 * the file exactly; refusals name the tensor and element.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { exportMerged, type MergedDtype } from '../../../src/main/export/merged';
import { noopContext } from '../../../src/main/export/job';
import { defaultMergeKernels, nativeMergeKernels } from '../../../src/main/export/merge-kernels';
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
