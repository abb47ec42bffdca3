/**
 * The run history's bookkeeping: notes and tags on runs, deleting finished runs with their files,
 * and run presets. Training itself (create, pause, resume, metrics) is the runs service's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PresetConfigParsed, RunAnnotation, RunDeleted, RunPreset } from '../../shared/contract/runs-library';
import type { RunStatus } from '../../shared/contract/runs';
import type { Engine } from '../engine';
import { NotFoundError, UserError } from '../errors';
import { createCheckpointsRepo } from '../storage/repos/checkpoints';
import { createMetricsRepo } from '../storage/repos/metrics';
import { createPresetsRepo } from '../storage/repos/presets';
import { createRunLibraryRepo } from '../storage/repos/run-library';
import { createRunsRepo } from '../storage/repos/runs';

/** A run in one of these states has a trainer (or a queue slot) that still writes to it. */
const ACTIVE: RunStatus[] = ['queued', 'running', 'paused'];

export class RunsLibrary {
  private readonly runs;
  private readonly library;
  private readonly checkpoints;
  private readonly presets;
  private readonly metrics;

  constructor(private readonly engine: Engine) {
    this.metrics = createMetricsRepo(engine.db);
    this.runs = createRunsRepo(engine.db);
    this.library = createRunLibraryRepo(engine.db);
    this.checkpoints = createCheckpointsRepo(engine.db);
    this.presets = createPresetsRepo(engine.db);
  }

  annotations(): RunAnnotation[] {
    return this.library.list();
  }

  setNotes(id: number, notes: string): RunAnnotation {
    this.annotation(id);
    this.library.setNotes(id, notes);
    return this.changed(id);
  }

  /** Tags are trimmed and kept once each, in the order given. */
  setTags(id: number, tags: string[]): RunAnnotation {
    this.annotation(id);
    this.library.setTags(id, [...new Set(tags.map((t) => t.trim()).filter(Boolean))]);
    return this.changed(id);
  }

  /**
   * Records measurements made after training (e.g. `accuracy` on held-out rows, as
   * scripts/learn-starter.ts does) as metrics of a finished run, at its last training step, so the
   * run history can compare runs by them. Values must be finite.
   */
  recordEvaluation(id: number, values: Record<string, number>): void {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run with id ${id}`);
    if (ACTIVE.includes(run.status)) throw new UserError(`run ${id} ("${run.name}") is ${run.status}: record evaluations once it has finished`, 409);
    const bad = Object.entries(values).filter(([, v]) => !Number.isFinite(v));
    if (bad.length) throw new UserError(`not a finite number: ${bad.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    const step = this.metrics.last(id, 'loss')?.step ?? 0;
    this.metrics.insert(id, Object.entries(values).map(([name, value]) => ({ name, step, value })));
    this.changed(id);
  }

  /**
   * Deletes the run, its metrics and checkpoints, and the files it wrote under the data dir (its
   * run folder and checkpoint folders). Folders outside the data dir are never touched. Adapters
   * the run produced stay in the library.
   */
  delete(id: number): RunDeleted {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run with id ${id}`);
    if (ACTIVE.includes(run.status)) {
      throw new UserError(`run ${id} ("${run.name}") is ${run.status}: cancel it first, then delete it`, 409);
    }
    const folders = [path.join(this.engine.paths.runs, String(id)), ...this.checkpoints.list(id).map((c) => c.path)];
    const adaptersKept = this.library.adapterCount(id);
    this.library.remove(id);
    const root = path.resolve(this.engine.paths.root) + path.sep;
    let filesDeleted = false;
    for (const dir of folders) {
      const abs = path.resolve(dir);
      if (abs.startsWith(root) && fs.existsSync(abs)) {
        fs.rmSync(abs, { recursive: true, force: true });
        filesDeleted = true;
      }
    }
    const result: RunDeleted = { id, filesDeleted, adaptersKept };
    this.engine.events.emit('runs.deleted', result);
    return result;
  }

  listPresets(): RunPreset[] {
    return this.presets.list();
  }

  savePreset(name: string, config: PresetConfigParsed): RunPreset {
    const saved = this.presets.save(name.trim(), config);
    this.engine.events.emit('presets.changed', { id: saved.id });
    return saved;
  }

  deletePreset(id: number): { deleted: boolean } {
    const deleted = this.presets.remove(id);
    if (deleted) this.engine.events.emit('presets.changed', { id });
    return { deleted };
  }

  private annotation(id: number): RunAnnotation {
    const a = this.library.get(id);
    if (!a) throw new NotFoundError(`no run with id ${id}`);
    return a;
  }

  private changed(id: number): RunAnnotation {
    const a = this.annotation(id);
    this.engine.events.emit('runs.annotated', a);
    return a;
  }
}
