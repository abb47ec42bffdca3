/**
 * The trainer in its own process, driven through the runs service: events, checkpoints, the
 * final adapter, pause/resume/cancel, and resume after kill -9 of the trainer reproducing the
 * uninterrupted loss curve bit for bit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/main/engine';
import { readPeftConfig } from '../../../src/main/ml/lora/peft';
import { RunsService } from '../../../src/main/services/runs';
import { createRunsRepo } from '../../../src/main/storage/repos/runs';
import { addDataset, addTinyLlama, tempEngine } from './setup';

let engine: Engine;
let service: RunsService;
let modelId: number;
let datasetId: number;

beforeAll(() => {
  engine = tempEngine();
  service = new RunsService(engine);
  modelId = addTinyLlama(engine);
  datasetId = addDataset(engine, 'reverse', 12, 2);
});
afterAll(async () => {
  await engine.close();
});

const config = (over: Record<string, unknown> = {}) => ({
  model: modelId,
  dataset: datasetId,
  template: 'chatml',
  targets: ['q_proj', 'v_proj'],
  rank: 4,
  alpha: 8,
  dropout: 0.1,
  lr: 5e-3,
  maxSteps: 5,
  batchSize: 2,
  gradAccum: 2,
  seqLen: 48,
  evalEvery: 3,
  checkpointEvery: 2,
  seed: 11,
  backend: 'cpu',
  ...over,
});

const losses = (id: number) => service.metricsOf(id, ['loss']).loss.map((p) => p.value);

function until(pred: () => boolean, ms = 120_000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (pred()) resolve();
      else if (Date.now() - start > ms) reject(new Error('timed out waiting'));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

describe('training in a child process', { timeout: 300_000 }, () => {
  let reference: number[] = [];

  it('runs to completion with step, eval and checkpoint events, and registers the adapter', async () => {
    const seen: string[] = [];
    const off = engine.events.onAny((name) => seen.push(name));
    const run = service.create(config());
    const done = await service.waitFor(run.id);
    off();
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.adapterId).not.toBeNull();
    reference = losses(run.id);
    expect(reference).toHaveLength(5);
    expect(seen.filter((n) => n === 'runs.step')).toHaveLength(5);
    expect(seen).toContain('runs.eval');
    const detail = service.get(run.id);
    expect(detail.checkpoints.map((c) => c.step)).toEqual([2, 4, 5]);
    expect(Object.keys(service.metricsOf(run.id))).toEqual(expect.arrayContaining(['loss', 'lr', 'grad_norm', 'tokens_per_s', 'eval_loss', 'eval_ppl']));
    const adapterDir = fs.readdirSync(engine.paths.adapters).map((d) => path.join(engine.paths.adapters, d))[0];
    const peft = readPeftConfig(adapterDir);
    expect(peft.r).toBe(4);
    expect(peft.target_modules).toEqual(['q_proj', 'v_proj']);
  });

  it('resumes after kill -9 of the trainer with the same loss curve, bit for bit', async () => {
    const run = service.create(config());
    const runs = createRunsRepo(engine.db);
    await until(() => service.get(run.id).checkpoints.some((c) => c.step === 2));
    const pid = runs.get(run.id)!.trainerPid!;
    process.kill(pid, 'SIGKILL');
    const failed = await service.waitFor(run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/killed \(SIGKILL\)/);
    expect(service.get(run.id).resumable).toBe(true);

    service.resume(run.id); // from the latest checkpoint
    const done = await service.waitFor(run.id);
    expect(done.status).toBe('completed');
    expect(losses(run.id)).toEqual(reference);
  });

  it('pauses, resumes and cancels between steps; a cancelled run resumes to the same curve', async () => {
    const run = service.create(config({ checkpointEvery: 0 }));
    await until(() => (service.get(run.id).step ?? 0) >= 1);
    service.pause(run.id);
    await until(() => service.get(run.id).status === 'paused');
    const stepAtPause = service.get(run.id).step;
    await new Promise((r) => setTimeout(r, 500));
    expect(service.get(run.id).step).toBe(stepAtPause);
    service.resume(run.id);
    await until(() => service.get(run.id).status === 'running');
    service.cancel(run.id);
    const cancelled = await service.waitFor(run.id);
    expect(cancelled.status).toBe('cancelled');
    const detail = service.get(run.id);
    expect(detail.checkpoints.length).toBe(1); // saved at cancel
    service.resume(run.id);
    expect((await service.waitFor(run.id)).status).toBe('completed');
    expect(losses(run.id)).toEqual(reference);
  });
});
