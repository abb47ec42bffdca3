/**
 * Export jobs of the engine: start one (a row in table exports, a worker thread), forward its
 * progress as `exports.progress` events with an ETA, cancel it, and record how it ended
 * (`exports.finished`). A job left 'running' by a closed app is marked failed at the next start
 * and its temp folder removed. One service per engine (jobs outlive a single call).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ExportProgressEvent, ExportRecord } from '../../shared/contract';
import type { z } from 'zod';
import type { ExportStartArgs } from '../../shared/contract/exports';
import type { Engine } from '../engine';
import { NotFoundError, UserError } from '../errors';
import { AdapterLibrary, trainingTemplate } from '../adapters/library';
import { getSettings } from '../services/system';
import { createExportsRepo, type ExportRow } from '../storage/repos/exports';
import type { ExportJob, ExportResult } from './run';
import { ExportFailure, startExport, type RunningExport } from './runner';

type StartArgs = z.output<typeof ExportStartArgs>;

const services = new WeakMap<Engine, ExportsService>();

export function exportsService(engine: Engine): ExportsService {
  let s = services.get(engine);
  if (!s) {
    s = new ExportsService(engine);
    services.set(engine, s);
  }
  return s;
}

const toRecord = (r: ExportRow): ExportRecord => ({ ...r });

/** Removes temp folders a job of this process (or a crashed earlier one) left beside `dest`. */
function removeTempFolders(dest: string, pid?: number): void {
  const dir = path.dirname(dest);
  if (!fs.existsSync(dir)) return;
  const prefix = `.${path.basename(dest)}.partial-${pid ?? ''}`;
  for (const name of fs.readdirSync(dir)) if (name.startsWith(prefix)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

export class ExportsService {
  private readonly repo;
  private readonly library;
  private readonly jobs = new Map<number, { run: RunningExport; settled: Promise<ExportRecord> }>();

  constructor(private readonly engine: Engine) {
    this.repo = createExportsRepo(engine.db);
    this.library = new AdapterLibrary(engine);
    for (const stale of this.repo.running()) {
      removeTempFolders(stale.path);
      this.repo.finish(stale.id, 'failed', null, 'interrupted: LoRA Studio closed while the export was running; nothing was kept');
    }
    engine.onClose(async () => {
      for (const j of this.jobs.values()) j.run.cancel();
      await Promise.allSettled([...this.jobs.values()].map((j) => j.settled));
    });
  }

  list(adapterId?: number): ExportRecord[] {
    return this.repo.list(adapterId).map(toRecord);
  }

  get(id: number): ExportRecord {
    const r = this.repo.get(id);
    if (!r) throw new NotFoundError(`no export with id ${id}`);
    return toRecord(r);
  }

  /** The job for an adapter: resolves the base model, the training template and the destination. */
  buildJob(args: StartArgs): ExportJob {
    const a = this.library.resolve(args.adapterId);
    const out = path.resolve(args.out);
    if (fs.existsSync(out)) throw new UserError(`${out} already exists; choose another destination or remove it first`, 409);
    const chatTemplate = trainingTemplate(a);
    const baseModelName = this.library.baseModelLabel(a);
    if (args.kind === 'peft') {
      let baseDir: string | null = null;
      try {
        baseDir = this.library.baseDir(a);
      } catch {
        baseDir = null; // the tokenizer then comes from the adapter folder, if it has one
      }
      const hfName = typeof a.config.base_model_name_or_path === 'string' ? a.config.base_model_name_or_path : baseModelName;
      return { kind: 'peft', request: { adapterDir: a.path, baseDir, outDir: out, chatTemplate, adapterName: a.name, baseModelName: hfName, trainingNotes: this.trainingNotes(a), completeConfig: a.source !== 'import' } };
    }
    const baseDir = this.library.baseDir(a);
    if (args.kind === 'merged') {
      return {
        kind: 'merged',
        request: { adapterDir: a.path, baseDir, outDir: out, dtype: args.dtype, maxShardBytes: args.maxShardBytes ?? null, chatTemplate, adapterName: a.name, baseModelName, verify: args.verify },
      };
    }
    return { kind: 'gguf', request: { adapterDir: a.path, baseDir, outFile: out, type: args.ggufType, modelfile: args.modelfile, chatTemplate, name: a.name } };
  }

  private trainingNotes(a: { runId: number | null; datasetVersionId: number | null; source: string; rank: number; alpha: number }): string[] {
    const notes = [`Source: ${a.source}`];
    if (a.runId !== null) {
      const run = this.engine.db.prepare<[number], { name: string; config_json: string }>('SELECT name, config_json FROM runs WHERE id = ?').get(a.runId);
      if (run) {
        notes.push(`Run: ${run.name} (id ${a.runId})`);
        const c = JSON.parse(run.config_json) as Record<string, unknown>;
        const keys = ['lr', 'scheduler', 'epochs', 'maxSteps', 'batchSize', 'gradAccum', 'seqLen', 'dropout', 'warmup', 'weightDecay', 'completionOnly', 'template'];
        const settings = keys.filter((k) => c[k] !== undefined).map((k) => `${k} ${JSON.stringify(c[k])}`);
        if (settings.length) notes.push(`Training settings: ${settings.join(', ')}`);
      }
    }
    if (a.datasetVersionId !== null) {
      const d = this.engine.db
        .prepare<[number], { name: string; version: number; row_count: number }>('SELECT d.name, v.version, v.row_count FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE v.id = ?')
        .get(a.datasetVersionId);
      if (d) notes.push(`Dataset: ${d.name} v${d.version} (${d.row_count} rows)`);
    }
    return notes;
  }

  start(args: StartArgs): ExportRecord {
    const job = this.buildJob(args);
    const dest = job.kind === 'gguf' ? job.request.outFile : job.request.outDir;
    const options: Record<string, unknown> =
      args.kind === 'peft'
        ? { out: dest }
        : args.kind === 'merged'
          ? { out: dest, dtype: args.dtype, maxShardBytes: args.maxShardBytes ?? null, verify: args.verify }
          : { out: dest, type: args.ggufType, modelfile: args.modelfile };
    const row = this.repo.create({ adapterId: args.adapterId, kind: args.kind, path: dest, options });
    const run = startExport(
      job,
      (p) => {
        const ev: ExportProgressEvent = { id: row.id, kind: args.kind, ...p };
        this.engine.events.emit('exports.progress', ev);
      },
      getSettings(this.engine).backend,
    );
    const settled = run.done.then(
      (result: ExportResult) => this.finish(row.id, 'completed', result, null),
      (err: unknown) => {
        const f = err instanceof ExportFailure ? err : new ExportFailure('failed', String(err));
        if (f.kind === 'failed') removeTempFolders(dest, process.pid);
        return this.finish(row.id, f.kind === 'cancelled' ? 'cancelled' : 'failed', null, f.message);
      },
    );
    this.jobs.set(row.id, { run, settled });
    return toRecord(row);
  }

  private finish(id: number, status: 'completed' | 'failed' | 'cancelled', result: unknown, error: string | null): ExportRecord {
    this.jobs.delete(id);
    const rec = toRecord(this.repo.finish(id, status, result, error));
    this.engine.events.emit('exports.finished', rec);
    return rec;
  }

  /** Resolves when the job ends (the record as finished). */
  wait(id: number): Promise<ExportRecord> {
    const j = this.jobs.get(id);
    return j ? j.settled : Promise.resolve(this.get(id));
  }

  cancel(id: number): ExportRecord {
    const j = this.jobs.get(id);
    if (!j) {
      const r = this.get(id);
      if (r.status === 'running') throw new UserError(`export ${id} is not running in this process`, 409);
      return r;
    }
    j.run.cancel();
    return this.get(id);
  }
}
