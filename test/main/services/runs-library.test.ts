import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../../src/main/engine';
import { createHandlers, dispatchCall } from '../../../src/main/handlers';
import { RunsLibrary } from '../../../src/main/services/runs-library';
import { createCheckpointsRepo } from '../../../src/main/storage/repos/checkpoints';
import { createMetricsRepo } from '../../../src/main/storage/repos/metrics';
import { createRunsRepo } from '../../../src/main/storage/repos/runs';
import { RunConfig, type RunStatus } from '../../../src/shared/contract/runs';
import { PresetConfig } from '../../../src/shared/contract/runs-library';

let dir: string;
let engine: Engine;
let library: RunsLibrary;
const events: [string, unknown][] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-library-'));
  engine = Engine.open({ dataDir: path.join(dir, 'data'), shell: 'cli' });
  library = new RunsLibrary(engine);
  events.length = 0;
  engine.events.onAny((name, payload) => events.push([name, payload]));
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A run row as the training service writes it, with a checkpoint folder and a few metrics. */
function addRun(status: RunStatus): number {
  const runs = createRunsRepo(engine.db);
  const run = runs.create({
    name: `run-${status}`,
    modelId: null,
    datasetVersionId: null,
    parentAdapterId: null,
    config: RunConfig.parse({ model: 1, dataset: 1 }),
    template: null,
    ownerPid: process.pid,
    estimate: null,
  });
  runs.update(run.id, { status });
  const ckpt = path.join(engine.paths.runs, String(run.id), 'checkpoints', 'step-2');
  fs.mkdirSync(ckpt, { recursive: true });
  fs.writeFileSync(path.join(ckpt, 'trainer_state.json'), '{}');
  createCheckpointsRepo(engine.db).record(run.id, 2, ckpt);
  createMetricsRepo(engine.db).insert(run.id, [
    { name: 'loss', step: 1, value: 2.5 },
    { name: 'loss', step: 2, value: 2.1 },
  ]);
  return run.id;
}

describe('run notes and tags', () => {
  it('stores notes and tags (trimmed, once each) and announces them', () => {
    const id = addRun('completed');
    expect(library.annotations()).toEqual([{ id, notes: '', tags: [] }]);
    expect(library.setNotes(id, 'lr too high?')).toEqual({ id, notes: 'lr too high?', tags: [] });
    expect(library.setTags(id, [' sweep ', 'r8', 'sweep'])).toEqual({ id, notes: 'lr too high?', tags: ['sweep', 'r8'] });
    expect(events.filter(([n]) => n === 'runs.annotated')).toHaveLength(2);
    expect(() => library.setNotes(999, 'x')).toThrow(/no run with id 999/);
  });
});

describe('evaluations recorded after training', () => {
  it('stores them as metrics at the run\'s last step', () => {
    const id = addRun('completed');
    library.recordEvaluation(id, { accuracy: 0.93 });
    const rows = createMetricsRepo(engine.db).list(id).filter((m) => m.name === 'accuracy');
    expect(rows).toEqual([{ name: 'accuracy', step: 2, value: 0.93 }]);
    expect(events.filter(([n]) => n === 'runs.annotated')).toHaveLength(1);
  });

  it('refuses a run still training, a missing run and non-finite values', () => {
    const running = addRun('running');
    expect(() => library.recordEvaluation(running, { accuracy: 0.5 })).toThrow(/is running/);
    expect(() => library.recordEvaluation(999, { accuracy: 0.5 })).toThrow(/no run with id 999/);
    const done = addRun('completed');
    expect(() => library.recordEvaluation(done, { accuracy: Number.NaN })).toThrow(/accuracy=NaN/);
    expect(createMetricsRepo(engine.db).list(done).some((m) => m.name === 'accuracy')).toBe(false);
  });
});

describe('deleting a run', () => {
  it('removes a finished run with its metrics, checkpoints and folder', () => {
    const id = addRun('completed');
    const folder = path.join(engine.paths.runs, String(id));
    expect(library.delete(id)).toEqual({ id, filesDeleted: true, adaptersKept: 0 });
    expect(fs.existsSync(folder)).toBe(false);
    expect(createRunsRepo(engine.db).get(id)).toBeUndefined();
    expect(createMetricsRepo(engine.db).list(id)).toEqual([]);
    expect(createCheckpointsRepo(engine.db).list(id)).toEqual([]);
    expect(events).toContainEqual(['runs.deleted', { id, filesDeleted: true, adaptersKept: 0 }]);
  });

  it('refuses a run that is still training, with what to do', () => {
    for (const status of ['queued', 'running', 'paused'] as const) {
      const id = addRun(status);
      expect(() => library.delete(id)).toThrow(new RegExp(`is ${status}: cancel it first`));
      expect(createRunsRepo(engine.db).get(id)).toBeDefined();
    }
  });

  it('leaves folders outside the data dir alone', () => {
    const id = addRun('failed');
    const outside = path.join(dir, 'elsewhere-ckpt');
    fs.mkdirSync(outside);
    createCheckpointsRepo(engine.db).record(id, 3, outside);
    library.delete(id);
    expect(fs.existsSync(outside)).toBe(true);
  });
});

describe('presets', () => {
  it('saves, replaces by name, lists by name and deletes', () => {
    const a = library.savePreset('Attention r16', PresetConfig.parse({ rank: 16, targets: ['q_proj', 'v_proj'] }));
    library.savePreset('all linear', PresetConfig.parse({ rank: 8 }));
    const again = library.savePreset('Attention r16', PresetConfig.parse({ rank: 32 }));
    expect(again.id).toBe(a.id);
    expect(library.listPresets().map((p) => [p.name, p.config.rank])).toEqual([
      ['all linear', 8],
      ['Attention r16', 32],
    ]);
    expect(library.deletePreset(a.id)).toEqual({ deleted: true });
    expect(library.deletePreset(a.id)).toEqual({ deleted: false });
    expect(library.listPresets()).toHaveLength(1);
  });

  it('refuses a preset naming a model or dataset at the contract boundary', async () => {
    const handlers = createHandlers(engine);
    await expect(dispatchCall(handlers, 'presets.save', { name: 'x', config: { model: 1, rank: 4 } }, { via: 'cli' })).rejects.toThrow(/model/);
    await expect(dispatchCall(handlers, 'presets.save', { name: 'x', config: { rank: 0 } }, { via: 'cli' })).rejects.toThrow(/rank must be at least 1/);
  });
});
