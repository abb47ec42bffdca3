/**
 * The runs service with a scripted trainer (no real training): validation before any process
 * starts, the queue, metrics in SQLite, trainer death, recovery of runs left by a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/main/errors';
import { RunsService } from '../../../src/main/services/runs';
import { createRunsRepo } from '../../../src/main/storage/repos/runs';
import type { TrainerChannel, TrainerEvent, TrainerRequest, TrainJob } from '../../../src/main/trainer/protocol';
import { Engine } from '../../../src/main/engine';
import { addDataset, addTinyLlama, tempEngine } from '../trainer/setup';

const tempEngineAt = (dataDir: string) => Engine.open({ dataDir, shell: 'cli' });

/** A trainer double: answers `start` by playing `script(job)`, or dies when told to. */
class ScriptedTrainer implements TrainerChannel {
  readonly pid = 999_999;
  requests: TrainerRequest[] = [];
  private eventListeners: ((ev: TrainerEvent) => void)[] = [];
  private exitListeners: ((code: number | null, signal: string | null, detail: string) => void)[] = [];
  job: TrainJob | null = null;

  constructor(private readonly script: (t: ScriptedTrainer, job: TrainJob) => void) {
    setImmediate(() => this.emit({ type: 'ready', pid: this.pid }));
  }
  send(req: TrainerRequest): void {
    this.requests.push(req);
    if (req.type === 'start') {
      this.job = req.job;
      setImmediate(() => this.script(this, req.job));
    }
  }
  onEvent(l: (ev: TrainerEvent) => void): void {
    this.eventListeners.push(l);
  }
  onExit(l: (code: number | null, signal: string | null, detail: string) => void): void {
    this.exitListeners.push(l);
  }
  kill(): void {
    this.exit(null, 'SIGTERM', '');
  }
  emit(ev: TrainerEvent): void {
    this.eventListeners.forEach((l) => l(ev));
  }
  exit(code: number | null, signal: string | null, detail: string): void {
    this.exitListeners.forEach((l) => l(code, signal, detail));
  }
}

function completes(steps: number) {
  return (t: ScriptedTrainer, job: TrainJob) => {
    t.emit({ type: 'started', backend: 'cpu', totalSteps: steps, trainableParams: 1, trainExamples: 1, evalExamples: 0, resumedFromStep: null });
    for (let s = 1; s <= steps; s++) {
      t.emit({ type: 'step', step: s, totalSteps: steps, epoch: s / steps, loss: 1 / s, lr: 1e-3, gradNorm: 0.5, tokensPerSecond: 100, elapsedMs: s * 10, etaMs: 0, memory: { rssBytes: 1, tensorBytes: 1, peakBytes: 1 } });
    }
    fs.mkdirSync(job.adapterDir, { recursive: true });
    fs.writeFileSync(path.join(job.adapterDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj'] }));
    fs.writeFileSync(path.join(job.adapterDir, 'adapter_model.safetensors'), 'x');
    t.emit({ type: 'done', status: 'completed', step: steps, adapterDir: job.adapterDir, stoppedEarly: false });
    t.exit(0, null, '');
  };
}

let engine: Engine;
let modelId: number;
let datasetId: number;
let spawned: ScriptedTrainer[];
let script: (t: ScriptedTrainer, job: TrainJob) => void;

beforeEach(() => {
  engine = tempEngine();
  modelId = addTinyLlama(engine);
  datasetId = addDataset(engine, 'reverse', 6);
  spawned = [];
  script = completes(3);
});
afterEach(async () => {
  await engine.close();
});

const newService = () =>
  new RunsService(engine, {
    spawn: () => {
      const t = new ScriptedTrainer((tt, job) => script(tt, job));
      spawned.push(t);
      return t;
    },
  });

const base = () => ({ model: modelId, dataset: datasetId, targets: ['q_proj', 'v_proj'], maxSteps: 3, seqLen: 128 });

describe('validation before the trainer starts', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['rank 0', { rank: 0 }, /rank must be at least 1/],
    ['negative learning rate', { lr: -1e-4 }, /learning rate must be > 0/],
    ['unknown module', { targets: ['q_proj', 'qkv_proj'] }, /unknown target module "qkv_proj" \(this model has: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj\)/],
    ['layer out of range', { layers: [0, 2] }, /layer 2 is out of range \(this model has layers 0-1\)/],
    ['seq-len beyond the context', { seqLen: 4096 }, /sequence length 4096 is beyond the model's context of 2048 tokens/],
    ['unknown model', { model: '/nonexistent/model' }, /model "\/nonexistent\/model": .*not a folder/],
    ['unknown dataset', { dataset: 'nope' }, /no dataset "nope"/],
  ];
  for (const [what, over, reason] of cases) {
    it(`refuses ${what}, with the reason`, () => {
      const service = newService();
      let err: unknown;
      try {
        service.create({ ...base(), ...over });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(reason);
      expect(spawned).toHaveLength(0);
      expect(service.list()).toHaveLength(0);
    });
  }

  it('refuses an empty dataset and one whose rows are all held out', () => {
    const service = newService();
    const empty = addDataset(engine, 'empty', 0);
    expect(() => service.create({ ...base(), dataset: empty })).toThrow(/dataset "empty" is empty/);
    const allEval = addDataset(engine, 'all-eval', 2, 2);
    expect(() => service.create({ ...base(), dataset: allEval })).toThrow(/has no training rows/);
    expect(spawned).toHaveLength(0);
  });

  it("left out, the sequence length is 512 or the model's context where that is shorter", () => {
    const service = newService();
    const { seqLen: _, ...noSeqLen } = base();
    expect(service.prepare(noSeqLen).config.seqLen).toBe(512); // tiny-random-llama: 2048 positions
    const starter = path.resolve(import.meta.dirname, '../../../resources/starter-model'); // 256 positions
    expect(service.prepare({ ...noSeqLen, model: starter }).config.seqLen).toBe(256);
    expect(() => service.prepare({ ...noSeqLen, model: starter, seqLen: 512 })).toThrow(/sequence length 512 is beyond the model's context of 256 tokens/);
  });

  it('reports every problem at once', () => {
    expect(() => newService().create({ ...base(), targets: ['nope'], layers: [5], seqLen: 9999 })).toThrow(/unknown target module "nope".*layer 5 is out of range.*sequence length 9999/);
  });

  it('estimates the exact trainable parameter count and steps', () => {
    const e = newService().estimate({ ...base(), rank: 8, targets: ['q_proj', 'down_proj'], layers: [1], maxSteps: undefined, epochs: 2, batchSize: 2, gradAccum: 1 });
    expect(e.trainableParams).toBe(8 * (16 + 16) + 8 * (64 + 16));
    expect(e.modules).toBe(2);
    expect(e.totalSteps).toBe(2 * 3);
    expect(e.memory.totalBytes).toBe(e.memory.weightsBytes + e.memory.adapterBytes + e.memory.optimizerBytes + e.memory.activationsBytes);
  });
});

describe('queue, metrics and failures', () => {
  it('runs one training at a time; the next waits in the queue', async () => {
    let release: (() => void) | null = null;
    script = (t, job) => {
      release = () => completes(3)(t, job);
    };
    const service = newService();
    const a = service.create(base());
    const b = service.create(base());
    expect(service.get(a.id).status).toBe('running');
    expect(service.get(b.id).status).toBe('queued');
    while (!release) await new Promise((r) => setTimeout(r, 10));
    expect(spawned).toHaveLength(1);
    script = completes(3);
    (release as () => void)();
    expect((await service.waitFor(a.id)).status).toBe('completed');
    const done = await service.waitFor(b.id);
    expect(done.status).toBe('completed');
    expect(spawned).toHaveLength(2);
    expect(done.adapterId).not.toBeNull();
    expect(service.metricsOf(b.id).loss.map((p) => p.value)).toEqual([1, 1 / 2, 1 / 3]);
  });

  it('marks the run failed with the cause when the trainer dies', async () => {
    script = (t) => {
      t.emit({ type: 'started', backend: 'cpu', totalSteps: 3, trainableParams: 1, trainExamples: 1, evalExamples: 0, resumedFromStep: null });
      t.exit(null, 'SIGKILL', 'some log\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory');
    };
    const service = newService();
    const run = service.create(base());
    const done = await service.waitFor(run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toBe('the trainer process was killed (SIGKILL): FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory');
  });

  it('reports an out-of-memory error clearly, pointing at the last checkpoint', async () => {
    script = (t) => {
      t.emit({ type: 'error', message: 'Array buffer allocation failed', outOfMemory: true });
      t.exit(1, null, '');
    };
    const service = newService();
    const done = await service.waitFor(service.create(base()).id);
    expect(done.error).toMatch(/^out of memory: Array buffer allocation failed\. The last checkpoint is intact/);
  });

  it('marks runs left running by a dead engine as interrupted at start, and resumes them', async () => {
    const service = newService();
    const run = service.create(base());
    await service.waitFor(run.id);
    const repo = createRunsRepo(engine.db);
    repo.update(run.id, { status: 'running', ownerPid: 2 ** 22 + 12345, finishedAt: null }); // no such process
    const mine = service.create(base());
    await service.waitFor(mine.id);
    repo.update(mine.id, { status: 'running', ownerPid: process.pid });

    const restarted = newService();
    expect(restarted.get(run.id).status).toBe('interrupted');
    expect(restarted.get(run.id).error).toMatch(/the app stopped at step 3/);
    expect(restarted.get(mine.id).status).toBe('running'); // its owner (this process) is alive
    expect(restarted.get(run.id).resumable).toBe(true);
    restarted.resume(run.id);
    expect((await restarted.waitFor(run.id)).status).toBe('completed');
  });

  it('closing the engine after a run reported its end (its process still exiting) keeps it completed', async () => {
    script = (t, job) => {
      completes(1)({ ...t, emit: (ev: TrainerEvent) => t.emit(ev), exit: () => {} } as unknown as ScriptedTrainer, job);
    };
    const service = newService();
    const run = service.create(base());
    expect((await service.waitFor(run.id)).status).toBe('completed');
    await engine.close();
    const reopened = tempEngineAt(engine.dataDir);
    expect(createRunsRepo(reopened.db).get(run.id)!.status).toBe('completed');
    await reopened.close();
  });

  it('keeps metrics in SQLite, flushed in batches and readable while the run is live', async () => {
    let emitStep: ((s: number) => void) | null = null;
    script = (t) => {
      t.emit({ type: 'started', backend: 'cpu', totalSteps: 500, trainableParams: 1, trainExamples: 1, evalExamples: 0, resumedFromStep: null });
      emitStep = (s) => t.emit({ type: 'step', step: s, totalSteps: 500, epoch: 0, loss: s, lr: 0, gradNorm: 0, tokensPerSecond: 0, elapsedMs: 0, etaMs: 0, memory: { rssBytes: 0, tensorBytes: 0, peakBytes: 0 } });
    };
    const service = newService();
    const run = service.create(base());
    while (!emitStep) await new Promise((r) => setTimeout(r, 10));
    for (let s = 1; s <= 40; s++) (emitStep as (s: number) => void)(s);
    const count = () => (engine.db.prepare('SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?').get(run.id) as { n: number }).n;
    // 40 steps × 7 series = 280 rows: one batch was written at 200+, the rest is pending
    expect(count()).toBe(203);
    expect(service.metricsOf(run.id).loss).toHaveLength(40); // reading flushes the pending rows
    expect(count()).toBe(280);
    expect(service.get(run.id).step).toBe(40);
  });
});
