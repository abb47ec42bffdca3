import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { exportGguf } from '../../../src/main/export/gguf';
import { ExportCancelled, describeFailure, type JobContext } from '../../../src/main/export/job';
import { exportMerged } from '../../../src/main/export/merged';
import { ExportFailure, progressTracker, startExport, type ExportProgress } from '../../../src/main/export/runner';
import { exportPeft } from '../../../src/main/adapters/peft-export';
import { TINY_LLAMA } from '../adapters/fixtures';
import { LLAMA_MODULES, writeTestAdapter } from './helpers';

/**
 * Set to make the addon look unbuilt: the merged export then writes through staged-file.ts on
 * libuv's threads, whose writes and checks these tests intercept (the addon's own shard writer has
 * its disk-full and cancel tests in merged-native.test.ts).
 */
const addonSwitch = vi.hoisted(() => ({ off: false }));
vi.mock('../../../src/main/ml/native/addon', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/main/ml/native/addon')>();
  return { ...real, loadAddon: () => (addonSwitch.off ? { ok: false as const, reason: 'switched off by the test' } : real.loadAddon()) };
});
afterEach(() => {
  addonSwitch.off = false;
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'export-jobs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const adapter = writeTestAdapter(path.join(tmp, 'adapter'), LLAMA_MODULES, { seed: 5, scale: 0.5 });
const dest = (name: string) => path.join(tmp, 'out', name);
fs.mkdirSync(path.join(tmp, 'out'));

/** Everything in the destination folder: must stay empty after a failed job. */
const leftovers = () => fs.readdirSync(path.join(tmp, 'out'));

/**
 * fs.writeSync and fs.write (the merged export's shard writer writes on libuv's thread pool) that
 * fail with ENOSPC once `limit` bytes were written between them (a full disk).
 */
function diskFullAfter(limit: number) {
  const realSync = fs.writeSync;
  const realAsync = fs.write;
  let written = 0;
  const enospc = () => {
    const err = new Error(`ENOSPC: no space left on device, write`) as NodeJS.ErrnoException;
    err.code = 'ENOSPC';
    return err;
  };
  /** The byte count of a write(fd, buffer, offset?, length?, …) call. */
  const size = (buf: NodeJS.ArrayBufferView, rest: unknown[]) => (typeof rest[1] === 'number' ? rest[1] : (buf as Uint8Array).byteLength ?? 0);
  vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    const n = size(buf, rest);
    if (written + n > limit) throw enospc();
    written += n;
    return (realSync as (...a: unknown[]) => number)(fd, buf, ...rest);
  }) as typeof fs.writeSync);
  vi.spyOn(fs, 'write').mockImplementation(((fd: number, buf: NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    const n = size(buf, rest);
    if (written + n > limit) {
      const callback = rest[rest.length - 1] as (err: Error) => void;
      process.nextTick(callback, enospc());
      return;
    }
    written += n;
    (realAsync as (...a: unknown[]) => void)(fd, buf, ...rest);
  }) as typeof fs.write);
}

/** A context that cancels at the n-th check. */
function cancelAt(n: number): JobContext {
  let calls = 0;
  return {
    checkCancelled() {
      if (++calls >= n) throw new ExportCancelled();
    },
    progress() {},
  };
}

describe('disk full leaves nothing behind', () => {
  it('merged export', async () => {
    addonSwitch.off = true;
    diskFullAfter(1_500_000);
    const err = await exportMerged({ adapterDir: adapter, baseDir: TINY_LLAMA, outDir: dest('merged'), dtype: 'f32', chatTemplate: null, adapterName: 'a', baseModelName: 'b' }, { checkCancelled() {}, progress() {} }).catch((e: unknown) => e);
    expect(describeFailure(err, dest('merged'))).toEqual({ kind: 'disk-full', message: expect.stringMatching(/^the disk is full: not enough space in .*out to write the export/) });
    expect(leftovers()).toEqual([]);
  });

  it('GGUF export', async () => {
    diskFullAfter(2_000_000);
    const err = await exportGguf({ adapterDir: adapter, baseDir: TINY_LLAMA, outFile: dest('m.gguf'), type: 'f16', modelfile: true, chatTemplate: null, name: 'x' }, { checkCancelled() {}, progress() {} }).catch((e: unknown) => e);
    expect(describeFailure(err, dest('m.gguf')).kind).toBe('disk-full');
    expect(leftovers()).toEqual([]);
  });

  it('PEFT export', async () => {
    diskFullAfter(100);
    const err = await exportPeft({ adapterDir: adapter, baseDir: TINY_LLAMA, outDir: dest('peft'), chatTemplate: null, adapterName: 'a', baseModelName: 'b' }, { checkCancelled() {}, progress() {} }).catch((e: unknown) => e);
    expect(describeFailure(err, dest('peft')).kind).toBe('disk-full');
    expect(leftovers()).toEqual([]);
  });
});

describe('cancel leaves nothing behind', () => {
  for (const at of [1, 3, 10]) {
    it(`merged export cancelled at check ${at}`, async () => {
      addonSwitch.off = true;
      const err = await exportMerged({ adapterDir: adapter, baseDir: TINY_LLAMA, outDir: dest('merged'), dtype: 'bf16', chatTemplate: null, adapterName: 'a', baseModelName: 'b' }, cancelAt(at)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExportCancelled);
      expect(describeFailure(err, dest('merged')).message).toMatch(/export cancelled; nothing was left in/);
      expect(leftovers()).toEqual([]);
    });
  }

  it('GGUF export cancelled mid-file', async () => {
    const err = await exportGguf({ adapterDir: adapter, baseDir: TINY_LLAMA, outFile: dest('m.gguf'), type: 'q8_0', modelfile: true, chatTemplate: null, name: 'x' }, cancelAt(7)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportCancelled);
    expect(leftovers()).toEqual([]);
  });
});

describe('permission denied', () => {
  it('says so and leaves nothing', async () => {
    const ro = path.join(tmp, 'readonly');
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o555);
    try {
      if (process.getuid?.() === 0) {
        // root ignores folder permissions: simulate the EACCES the OS would raise
        vi.spyOn(fs, 'mkdirSync').mockImplementation((() => {
          const e = new Error(`EACCES: permission denied, mkdir '${ro}/x'`) as NodeJS.ErrnoException;
          e.code = 'EACCES';
          e.path = path.join(ro, 'x');
          throw e;
        }) as typeof fs.mkdirSync);
      }
      const err = await exportPeft({ adapterDir: adapter, baseDir: TINY_LLAMA, outDir: path.join(ro, 'x'), chatTemplate: null, adapterName: 'a', baseModelName: 'b' }, { checkCancelled() {}, progress() {} }).catch((e: unknown) => e);
      vi.restoreAllMocks();
      expect(describeFailure(err, path.join(ro, 'x'))).toEqual({ kind: 'permission', message: expect.stringMatching(/^permission denied writing to .*readonly/) });
      expect(fs.readdirSync(ro)).toEqual([]);
    } finally {
      fs.chmodSync(ro, 0o755);
    }
  });
});

describe('progress', () => {
  it('measures the rate over the current phase and gives an ETA', () => {
    let t = 0;
    const track = progressTracker(() => t);
    expect(track(0, 1000, 'write')).toMatchObject({ fraction: 0, bytesPerSecond: null, etaSeconds: null });
    t = 100;
    expect(track(100, 1000, 'write').etaSeconds).toBeNull(); // too early to measure
    t = 2000;
    expect(track(500, 1000, 'write')).toMatchObject({ fraction: 0.5, bytesPerSecond: 250, etaSeconds: 2 });
    t = 2500;
    expect(track(1000, 1000, 'verify')).toMatchObject({ phase: 'verify', fraction: 1, etaSeconds: null });
  });
});

describe('export in a worker thread', () => {
  it('reports progress by phase, and completes', async () => {
    const seen: ExportProgress[] = [];
    const run = startExport({ kind: 'gguf', request: { adapterDir: adapter, baseDir: TINY_LLAMA, outFile: dest('w.gguf'), type: 'f32', modelfile: false, chatTemplate: null, name: 'w' } }, (p) => seen.push(p));
    const res = await run.done;
    expect(res.kind).toBe('gguf');
    expect(fs.existsSync(dest('w.gguf'))).toBe(true);
    expect(seen.at(-1)).toMatchObject({ phase: 'verify', fraction: 1 });
    expect(seen.some((p) => p.phase === 'write')).toBe(true);
    fs.rmSync(dest('w.gguf'));
  });

  it('is cancelled from the engine thread while it runs, leaving nothing', async () => {
    let run: ReturnType<typeof startExport> | null = null;
    run = startExport(
      { kind: 'merged', request: { adapterDir: adapter, baseDir: TINY_LLAMA, outDir: dest('w-merged'), dtype: 'f32', chatTemplate: null, adapterName: 'a', baseModelName: 'b' } },
      (p) => {
        if (p.phase === 'verify') run?.cancel(); // the logits check is the long part here
      },
    );
    const err = await run.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportFailure);
    expect((err as ExportFailure).kind).toBe('cancelled');
    expect(leftovers()).toEqual([]);
  });
});
