/**
 * The desktop shell's trainer channel (src/main/desktop/trainer.ts) over a stand-in for Electron's
 * utilityProcess: a forked Node child whose `process.parentPort` is set up as Electron sets it, so
 * the real trainer entry (child.ts) takes its utility-process branch. Driven through the engine's
 * `spawnTrainer` option, as the desktop shell wires it. The last suite builds the desktop bundle
 * (electron-vite) and trains through out/main/trainer-child.js, the file the packaged app runs.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utilityTrainer, type UtilityProcessLike, type UtilityProcessModule } from '../../../src/main/desktop/trainer';
import { Engine } from '../../../src/main/engine';
import { RunsService } from '../../../src/main/services/runs';
import { CHILD_ENTRY } from '../../../src/main/trainer/fork';
import { addDataset, addTinyLlama } from '../trainer/setup';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHIM = path.join(here, 'fixtures', 'parent-port.mjs');
const ROOT = path.resolve(here, '../../..');

/** utilityProcess.fork as Electron 39 behaves: message values, exit with a code only, kill() = SIGTERM. */
function standInUtility(forked: ChildProcess[], execArgv = ['--import', 'tsx']): UtilityProcessModule {
  return {
    fork(modulePath, args = [], options = {}) {
      const child = fork(modulePath, args, {
        execArgv: [...execArgv, '--import', SHIM],
        env: options.env,
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      forked.push(child);
      const proc: UtilityProcessLike = {
        get pid() {
          return child.pid;
        },
        stderr: child.stderr,
        postMessage: (m) => child.send(m as never),
        on(event: string, listener: (...a: never[]) => void) {
          if (event === 'exit') child.on('exit', (code, signal) => (listener as (c: number) => void)(code ?? (signal ? 128 + os.constants.signals[signal] : 1)));
          else if (event === 'message') child.on('message', listener as (m: unknown) => void);
          else child.on('error', () => (listener as (t: string, l: string, r: string) => void)('FatalError', '', ''));
          return proc;
        },
        kill: () => child.kill('SIGTERM'),
      } as UtilityProcessLike;
      return proc;
    },
  };
}

let engine: Engine;
let service: RunsService;
let modelId: number;
let datasetId: number;
const forked: ChildProcess[] = [];

function desktopEngine(spawn: Engine['spawnTrainer']): Engine {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'desktop-trainer-'));
  const e = Engine.open({ dataDir, shell: 'desktop', spawnTrainer: spawn });
  modelId = addTinyLlama(e);
  datasetId = addDataset(e, 'reverse', 8, 2);
  return e;
}

const config = (over: Record<string, unknown> = {}) => ({
  model: modelId,
  dataset: datasetId,
  template: 'chatml',
  targets: ['q_proj', 'v_proj'],
  rank: 2,
  alpha: 4,
  lr: 5e-3,
  maxSteps: 3,
  batchSize: 2,
  seqLen: 40,
  checkpointEvery: 1,
  seed: 3,
  backend: 'cpu',
  ...over,
});

describe('training in a utility process (desktop shell)', { timeout: 300_000 }, () => {
  beforeAll(() => {
    engine = desktopEngine(() => utilityTrainer(standInUtility(forked), CHILD_ENTRY));
    service = new RunsService(engine);
  });
  afterAll(async () => {
    await engine.close();
  });

  it('runs to completion through the engine-provided trainer and emits runs.changed when the process is gone', async () => {
    const changes: string[] = [];
    const off = engine.events.on('runs.changed', (s) => changes.push(s.status));
    const run = service.create(config());
    const done = await service.waitFor(run.id);
    // the last runs.changed comes from the process exit, after 'done'
    await new Promise((r) => setTimeout(r, 300));
    off();
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.adapterId).not.toBeNull();
    expect(forked).toHaveLength(1);
    expect(forked[0].exitCode).toBe(0);
    expect(service.metricsOf(run.id, ['loss']).loss).toHaveLength(3);
    expect(changes.filter((s) => s === 'completed').length).toBeGreaterThanOrEqual(2);
  });

  it('reports a trainer killed with SIGKILL as failed, naming the signal', async () => {
    const run = service.create(config({ maxSteps: 200, checkpointEvery: 50 }));
    const start = Date.now();
    while ((service.get(run.id).step ?? 0) < 1) {
      if (Date.now() - start > 120_000) throw new Error('no step in 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const pid = forked.at(-1)!.pid!;
    process.kill(pid, 'SIGKILL');
    const failed = await service.waitFor(run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/exited with code 137|killed/);
    expect(service.get(run.id).resumable).toBe(true);
  });

  it('cancels: the engine asks the trainer to stop, and the run is cancelled and resumable', async () => {
    const run = service.create(config({ maxSteps: 200, checkpointEvery: 1 }));
    const start = Date.now();
    while ((service.get(run.id).step ?? 0) < 1) {
      if (Date.now() - start > 120_000) throw new Error('no step in 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    service.cancel(run.id);
    const done = await service.waitFor(run.id);
    expect(done.status).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 300));
    expect(service.get(run.id).resumable).toBe(true);
  });
});

describe('the built desktop bundle', { timeout: 300_000 }, () => {
  const bundled: ChildProcess[] = [];
  beforeAll(() => {
    // The same build `npm run build` makes; the trainer entry is out/main/trainer-child.js.
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], { cwd: ROOT, stdio: 'pipe' });
    engine = desktopEngine(() => utilityTrainer(standInUtility(bundled, []), path.join(ROOT, 'out', 'main', 'trainer-child.js')));
    service = new RunsService(engine);
  });
  afterAll(async () => {
    await engine.close();
  });

  it('trains through out/main/trainer-child.js without tsx', async () => {
    const run = service.create(config({ maxSteps: 2 }));
    const done = await service.waitFor(run.id);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(bundled).toHaveLength(1);
    expect(bundled[0].spawnargs.join(' ')).not.toContain('tsx');
  });

  it('builds the worker entries the engine looks for beside the bundle', () => {
    for (const name of ['export-worker.js', 'dataset-import-worker.js']) {
      const file = path.join(ROOT, 'out', 'main', name);
      expect(fs.existsSync(file), file).toBe(true);
      execFileSync(process.execPath, ['--check', file]);
    }
  });
});
