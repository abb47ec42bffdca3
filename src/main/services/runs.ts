/**
 * Training runs: validation and estimates before anything starts, a queue (one training at a
 * time; more wait), the trainer process (spawned, watched, paused, cancelled), its events turned
 * into engine events and SQLite rows (metrics in batches), checkpoints and the final adapter
 * registered, and recovery: a run whose engine process is gone (a crash, kill -9) is marked
 * interrupted at the next start and can be resumed from its last checkpoint.
 *
 * Re-attaching is reading: `get` and `metrics` give the full history (pending metrics are flushed
 * first), and the `runs.*` events carry everything live.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type {
  CheckpointInfo,
  RunConfigParsed,
  RunDetail,
  RunEstimate,
  RunMetrics,
  RunStatus,
  RunSummary,
  SampleEvent,
} from '../../shared/contract/runs';
import { RunConfig } from '../../shared/contract/runs';
import type { Engine } from '../engine';
import { NotFoundError, UserError, errorMessage } from '../errors';
import { isBackendName } from '../ml/backends';
import { readConfigJson } from '../ml/config';
import { ADAPTER_WEIGHTS, readPeftConfig } from '../ml/lora/peft';
import { selectModules, specProblems, trainableParamCount, type LoraSpec } from '../ml/lora/spec';
import { createModel } from '../ml/models/registry';
import { estimateTrainingMemory, trainingOpsOf, type TrainingOps } from '../ml/train/memory';
import { addonPath } from '../ml/native/addon';
import { totalSteps } from '../ml/train/trainer';
import { nowIso } from '../storage/db';
import { sha256File } from '../storage/files';
import { createAdaptersRepo } from '../storage/repos/adapters';
import { createCheckpointsRepo } from '../storage/repos/checkpoints';
import { createDatasetsRepo } from '../storage/repos/datasets';
import { createMetricsRepo, type MetricRow } from '../storage/repos/metrics';
import { createRunsRepo, type RunRecord, type RunsRepo } from '../storage/repos/runs';
import { evalIndexSet } from '../trainer/data';
import { forkTrainer } from '../trainer/fork';
import type { TrainJob, TrainerChannel, TrainerEvent } from '../trainer/protocol';
import { loraSpecOf } from '../trainer/spec';
import { ModelsService } from './models';

const TERMINAL: RunStatus[] = ['completed', 'failed', 'cancelled', 'interrupted'];
const FLUSH_ROWS = 200;
const FLUSH_MS = 1000;
const CANCEL_GRACE_MS = 60_000;

/** What validating a config resolves: the model, dataset version and adapter it names. */
export interface PreparedRun {
  config: RunConfigParsed;
  modelDir: string;
  modelId: number | null;
  modelName: string;
  datasetVersionId: number;
  datasetName: string;
  fromAdapter: { id: number | null; dir: string } | null;
  spec: LoraSpec;
  estimate: RunEstimate;
}

interface ActiveRun {
  runId: number;
  channel: TrainerChannel;
  pending: MetricRow[];
  flushTimer: NodeJS.Timeout | null;
  step: number | null;
  totalSteps: number | null;
  lastError: string | null;
  finished: boolean;
  killTimer: NodeJS.Timeout | null;
}

function pidAlive(pid: number | null): boolean {
  if (!pid) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The ops the trainer's backend will run (they change the activations kept). With no backend chosen
 * the trainer takes the ladder's first that loads: TensorFlow where @tensorflow/tfjs-node(-gpu) is
 * installed (plain tfjs ops), else the native addon, else wasm.
 */
function trainerOps(backend: string | null): TrainingOps {
  if (backend) return trainingOpsOf(backend);
  autoOps ??= ladderOps();
  return autoOps;
}

let autoOps: TrainingOps | undefined;

/** What the installed packages and the built addon make the ladder's first choice (checked once). */
function ladderOps(): TrainingOps {
  const require = createRequire(import.meta.url);
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(pkg);
      return 'composite';
    } catch {
      // not installed
    }
  }
  return addonPath() !== null ? 'native' : 'wasm';
}

export interface RunsServiceOptions {
  /** Starts a trainer process; else the engine's (the desktop shell's utilityProcess), else child_process.fork. */
  spawn?: () => TrainerChannel;
}

export class RunsService {
  private readonly runs;
  private readonly metrics;
  private readonly checkpoints;
  private readonly adapters;
  private readonly datasets;
  private readonly models;
  private readonly spawn: () => TrainerChannel;
  private active: ActiveRun | null = null;
  /** Run ids waiting in this process, with the checkpoint each resumes from. */
  private queue: { runId: number; resumeFrom?: string }[] = [];
  private waiters = new Map<number, ((s: RunSummary) => void)[]>();
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly engine: Engine,
    opts: RunsServiceOptions = {},
  ) {
    this.runs = createRunsRepo(engine.db);
    this.metrics = createMetricsRepo(engine.db);
    this.checkpoints = createCheckpointsRepo(engine.db);
    this.adapters = createAdaptersRepo(engine.db);
    this.datasets = createDatasetsRepo(engine.db);
    this.models = new ModelsService(engine);
    this.spawn = opts.spawn ?? engine.spawnTrainer ?? (() => forkTrainer());
    this.recoverInterrupted();
    engine.onClose(() => this.shutdown());
  }

  /** Runs whose owning engine process is gone were cut short: mark them interrupted. */
  recoverInterrupted(): number {
    let n = 0;
    for (const status of ['queued', 'running', 'paused'] as const) {
      for (const run of this.runs.list(status)) {
        if (pidAlive(run.ownerPid)) continue;
        const where = run.status === 'queued' ? 'before it started' : `at step ${this.metrics.last(run.id, 'loss')?.step ?? 0}`;
        this.runs.update(run.id, { status: 'interrupted', error: `the app stopped ${where}; resume it to continue from the last checkpoint`, trainerPid: null });
        n++;
      }
    }
    return n;
  }

  // ---- reading ------------------------------------------------------------------------------

  list(status?: string): RunSummary[] {
    this.flush();
    return this.runs.list(status).map((r) => this.summary(r));
  }

  get(id: number): RunDetail {
    this.flush();
    const run = this.require(id);
    const checkpoints: CheckpointInfo[] = this.checkpoints.list(id).map((c) => ({ id: c.id, step: c.step, path: c.path, createdAt: c.createdAt }));
    return {
      ...this.summary(run),
      config: run.config,
      checkpoints,
      resumable: this.isResumable(run),
      samples: this.samples(run),
      estimate: run.estimate,
    };
  }

  metricsOf(id: number, names?: string[], sinceStep = 0): RunMetrics {
    this.require(id);
    this.flush();
    const out: RunMetrics = {};
    for (const m of this.metrics.list(id, sinceStep)) {
      if (names && !names.includes(m.name)) continue;
      (out[m.name] ??= []).push({ step: m.step, value: m.value });
    }
    return out;
  }

  /** Resolves when the run reaches completed, failed, cancelled or interrupted. */
  waitFor(id: number): Promise<RunSummary> {
    const run = this.require(id);
    if (TERMINAL.includes(run.status) && !this.live(id) && !this.queue.some((q) => q.runId === id)) {
      return Promise.resolve(this.summary(run));
    }
    return new Promise((resolve) => this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]));
  }

  // ---- validation ---------------------------------------------------------------------------

  /** Parses and checks `input`; every problem is reported at once (UserError), nothing is started. */
  prepare(input: unknown): PreparedRun {
    const parsed = RunConfig.safeParse(input);
    if (!parsed.success) {
      throw new UserError(`invalid run config: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
    }
    const config = parsed.data;
    const seqLenGiven = typeof input === 'object' && input !== null && (input as { seqLen?: unknown }).seqLen !== undefined;
    const problems: string[] = [];

    let modelDir = '';
    let modelId: number | null = null;
    let modelName = '';
    let model: ReturnType<typeof createModel> | null = null;
    try {
      const resolved = this.models.resolve(config.model);
      modelDir = resolved.dir;
      modelId = resolved.row?.id ?? null;
      modelName = resolved.row?.name ?? path.basename(resolved.dir);
      model = createModel(readConfigJson(resolved.dir));
    } catch (err) {
      problems.push(`model ${JSON.stringify(config.model)}: ${errorMessage(err)}`);
    }

    let fromAdapter: PreparedRun['fromAdapter'] = null;
    let spec = loraSpecOf(config, model?.modelType ?? '');
    if (config.fromAdapter !== undefined) {
      try {
        fromAdapter = this.resolveAdapter(config.fromAdapter);
        const c = readPeftConfig(fromAdapter.dir);
        spec = {
          ...spec,
          r: c.r,
          alpha: c.lora_alpha,
          rslora: c.use_rslora,
          targets: Array.isArray(c.target_modules) ? c.target_modules : spec.targets,
          layers: c.layers_to_transform === null || c.layers_to_transform === undefined ? null : [c.layers_to_transform].flat(),
          rankPattern: c.rank_pattern ?? {},
          alphaPattern: c.alpha_pattern ?? {},
          init: 'default',
        };
      } catch (err) {
        problems.push(`adapter ${JSON.stringify(config.fromAdapter)}: ${errorMessage(err)}`);
      }
    }

    let trainable = 0;
    let moduleCount = 0;
    if (model) {
      const modules = model.linearModules();
      const specIssues = specProblems(spec, [...modules.keys()], model.dims.numLayers);
      problems.push(...specIssues);
      if (specIssues.length === 0) {
        const selected = selectModules(spec, modules, model.dims.numLayers);
        trainable = trainableParamCount(selected);
        moduleCount = selected.length;
      }
      // The default sequence length gives way to a shorter context; one asked for does not.
      if (config.seqLen > model.dims.maxPositions && !seqLenGiven) config.seqLen = model.dims.maxPositions;
      if (config.seqLen > model.dims.maxPositions) {
        problems.push(`sequence length ${config.seqLen} is beyond the model's context of ${model.dims.maxPositions} tokens`);
      }
    }

    let datasetVersionId = 0;
    let datasetName = '';
    let trainExamples = 0;
    let evalExamples = 0;
    const dataset =
      typeof config.dataset === 'number' || /^\d+$/.test(config.dataset)
        ? this.datasets.get(Number(config.dataset))
        : this.datasets.list().find((d) => d.name === config.dataset);
    if (!dataset) problems.push(`no dataset ${JSON.stringify(config.dataset)} (see \`lora-studio datasets list\`)`);
    else {
      const version = this.datasets.version(dataset.id, config.datasetVersion);
      if (!version) problems.push(`dataset "${dataset.name}" has no version ${config.datasetVersion ?? '(ready)'}`);
      else {
        datasetVersionId = version.id;
        datasetName = dataset.name;
        const counts = this.datasets.splitCounts(version.id);
        const n = counts.train + counts.eval;
        if (config.evalSplit !== undefined) {
          evalExamples = evalIndexSet(n, config.evalSplit, config.seed).size;
          trainExamples = n - evalExamples;
        } else {
          trainExamples = counts.train;
          evalExamples = counts.eval;
        }
        if (n === 0) problems.push(`dataset "${dataset.name}" is empty`);
        else if (trainExamples === 0) problems.push(`dataset "${dataset.name}" has no training rows (all ${n} are held out for evaluation)`);
      }
    }

    if (config.sampleEvery > 0 && config.samplePrompts.length === 0) problems.push('sample generations need at least one sample prompt');
    if (config.backend !== undefined && !isBackendName(config.backend)) {
      problems.push(`unknown backend "${config.backend}" (tensorflow-gpu, tensorflow, native, wasm, cpu)`);
    }
    if (problems.length) throw new UserError(`run refused: ${problems.join('; ')}`);

    const m = model!;
    const backend = config.backend ?? this.engine.settings.get<string | null>('backend', null);
    const memory = estimateTrainingMemory(m.dims, m.weights.numParams(), trainable, config.batchSize, config.seqLen, { ops: trainerOps(backend) });
    m.dispose();
    const estimate: RunEstimate = {
      trainableParams: trainable,
      modules: moduleCount,
      totalSteps: totalSteps(trainExamples, { maxSteps: config.maxSteps ?? null, epochs: config.epochs, batchSize: config.batchSize, gradAccum: config.gradAccum }),
      trainExamples,
      evalExamples,
      memory,
    };
    return { config, modelDir, modelId, modelName, datasetVersionId, datasetName, fromAdapter, spec, estimate };
  }

  estimate(input: unknown): RunEstimate {
    return this.prepare(input).estimate;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /** Validates and queues a run; it starts now if no other training is running. */
  create(input: unknown): RunSummary {
    const p = this.prepare(input);
    const run = this.runs.create({
      name: p.config.name ?? `${p.modelName} · ${p.datasetName} · r${p.spec.r}`,
      modelId: p.modelId,
      datasetVersionId: p.datasetVersionId,
      parentAdapterId: p.fromAdapter?.id ?? null,
      config: p.config,
      template: p.config.template ?? null,
      ownerPid: process.pid,
      estimate: p.estimate,
    });
    this.queue.push({ runId: run.id });
    this.changed(run.id);
    this.schedule();
    return this.summary(this.require(run.id));
  }

  pause(id: number): RunSummary {
    const run = this.require(id);
    const live = this.live(id);
    if (!live || run.status !== 'running') throw new UserError(`run ${id} is ${run.status}, not running`, 409);
    live.channel.send({ type: 'pause' });
    return this.summary(run);
  }

  cancel(id: number): RunSummary {
    const run = this.require(id);
    const queued = this.queue.findIndex((q) => q.runId === id);
    if (queued >= 0 && !this.live(id)) {
      this.queue.splice(queued, 1);
      this.finish(id, { status: 'cancelled', finishedAt: nowIso() });
      return this.summary(this.require(id));
    }
    const active = this.live(id);
    if (!active) throw new UserError(`run ${id} is ${run.status}; only a queued, running or paused run can be cancelled`, 409);
    active.channel.send({ type: 'cancel' });
    // A trainer stuck in a long step still ends: after a grace period it is killed (last checkpoint kept).
    active.killTimer = setTimeout(() => active.channel.kill('SIGKILL'), CANCEL_GRACE_MS);
    active.killTimer.unref();
    return this.summary(run);
  }

  /**
   * A paused run continues; a stopped one (interrupted, cancelled, failed) is queued
   * again from checkpoint `step` (default the latest; none: from the start). Metrics after that
   * step are dropped: the resumed run writes them again, identical.
   */
  resume(id: number, step?: number): RunSummary {
    const run = this.require(id);
    const live = this.live(id);
    if (live) {
      if (run.status !== 'paused') throw new UserError(`run ${id} is ${run.status}, not paused`, 409);
      live.channel.send({ type: 'resume' });
      return this.summary(run);
    }
    if (!TERMINAL.includes(run.status) || this.queue.some((q) => q.runId === id)) throw new UserError(`run ${id} is ${run.status}`, 409);
    if (run.status === 'completed') throw new UserError(`run ${id} is completed; start a new run from its adapter (--from-adapter) to train further`, 409);
    const ckpt = step === undefined ? this.checkpoints.latest(id) : this.checkpoints.list(id).find((c) => c.step === step);
    if (step !== undefined && !ckpt) throw new NotFoundError(`run ${id} has no checkpoint at step ${step}`);
    if (ckpt && !fs.existsSync(ckpt.path)) throw new UserError(`checkpoint ${ckpt.path} is missing on disk`);
    this.metrics.deleteAfter(id, ckpt?.step ?? -1);
    this.runs.update(id, { status: 'queued', error: null, finishedAt: null, ownerPid: process.pid });
    this.queue.push({ runId: id, resumeFrom: ckpt?.path });
    this.changed(id);
    this.schedule();
    return this.summary(this.require(id));
  }

  // ---- internals ----------------------------------------------------------------------------

  /** The trainer working on `id`, unless it already reported its end (and is only exiting). */
  private live(id: number): ActiveRun | null {
    return this.active && this.active.runId === id && !this.active.finished ? this.active : null;
  }

  private schedule(): void {
    if (this.active || this.queue.length === 0) return;
    // One training at a time, across processes too: wait while another live engine trains.
    const elsewhere = [...this.runs.list('running'), ...this.runs.list('paused')].find((r) => r.ownerPid !== process.pid && pidAlive(r.ownerPid));
    if (elsewhere) {
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = null;
        this.schedule();
      }, 2000);
      return;
    }
    const next = this.queue.shift()!;
    try {
      this.start(next.runId, next.resumeFrom);
    } catch (err) {
      this.finish(next.runId, { status: 'failed', error: errorMessage(err), finishedAt: nowIso() });
      this.schedule();
    }
  }

  private start(runId: number, resumeFrom?: string): void {
    const run = this.require(runId);
    const p = this.prepare(run.config);
    const runDir = path.join(this.engine.paths.runs, String(runId));
    fs.mkdirSync(runDir, { recursive: true });
    const adapterDir = uniqueDir(path.join(this.engine.paths.adapters, `run-${runId}`));
    const job: TrainJob = {
      runId,
      config: p.config,
      modelDir: p.modelDir,
      baseModelName: p.modelDir,
      runDir,
      adapterDir,
      data: { kind: 'dataset', dbPath: this.engine.paths.db, versionId: p.datasetVersionId, template: p.config.template ?? null },
      resumeFrom,
      fromAdapterDir: resumeFrom ? undefined : p.fromAdapter?.dir,
      backend: p.config.backend ?? this.engine.settings.get<string | null>('backend', null) ?? undefined,
    };
    const channel = this.spawn();
    const active: ActiveRun = { runId, channel, pending: [], flushTimer: null, step: null, totalSteps: p.estimate.totalSteps, lastError: null, finished: false, killTimer: null };
    this.active = active;
    channel.onEvent((ev) => this.onEvent(active, ev, job));
    channel.onExit((code, signal, detail) => this.onExit(active, code, signal, detail));
    this.runs.update(runId, { status: 'running', startedAt: run.startedAt ?? nowIso(), error: null, ownerPid: process.pid, trainerPid: channel.pid ?? null });
    this.changed(runId);
  }

  private onEvent(active: ActiveRun, ev: TrainerEvent, job: TrainJob): void {
    if (this.closed) return;
    const runId = active.runId;
    const push = (rows: MetricRow[]) => {
      active.pending.push(...rows);
      if (active.pending.length >= FLUSH_ROWS) this.flush();
      else active.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
    };
    switch (ev.type) {
      case 'ready':
        active.channel.send({ type: 'start', job });
        break;
      case 'started':
        active.totalSteps = ev.totalSteps;
        this.runs.update(runId, { backend: ev.backend });
        this.changed(runId);
        break;
      case 'step': {
        active.step = ev.step;
        push([
          { name: 'loss', step: ev.step, value: ev.loss },
          { name: 'lr', step: ev.step, value: ev.lr },
          { name: 'grad_norm', step: ev.step, value: ev.gradNorm },
          { name: 'tokens_per_s', step: ev.step, value: ev.tokensPerSecond },
          { name: 'epoch', step: ev.step, value: ev.epoch },
          { name: 'elapsed_ms', step: ev.step, value: ev.elapsedMs },
          { name: 'rss_bytes', step: ev.step, value: ev.memory.rssBytes },
        ]);
        const { type: _t, ...payload } = ev;
        this.engine.events.emit('runs.step', { runId, ...payload });
        break;
      }
      case 'eval':
        push([
          { name: 'eval_loss', step: ev.step, value: ev.evalLoss },
          { name: 'eval_ppl', step: ev.step, value: ev.perplexity },
        ]);
        this.engine.events.emit('runs.eval', { runId, step: ev.step, evalLoss: ev.evalLoss, perplexity: ev.perplexity, improved: ev.improved });
        break;
      case 'checkpoint':
        this.flush();
        this.checkpoints.record(runId, ev.step, ev.path);
        this.engine.events.emit('runs.checkpoint', { runId, step: ev.step, path: ev.path });
        break;
      case 'sample':
        this.engine.events.emit('runs.sample', { runId, step: ev.step, prompt: ev.prompt, text: ev.text });
        break;
      case 'paused':
      case 'resumed':
        this.runs.update(runId, { status: ev.type === 'paused' ? 'paused' : 'running' });
        this.changed(runId);
        break;
      case 'log':
        break;
      case 'error':
        active.lastError = ev.outOfMemory
          ? `out of memory: ${ev.message}. The last checkpoint is intact; resume with a smaller batch size or sequence length`
          : ev.message;
        break;
      case 'done': {
        this.flush();
        active.finished = true;
        if (ev.status === 'completed' && ev.adapterDir) this.registerAdapter(runId, ev.adapterDir, job);
        this.finish(runId, { status: ev.status, finishedAt: nowIso(), trainerPid: null });
        break;
      }
    }
  }

  private onExit(active: ActiveRun, code: number | null, signal: string | null, detail: string): void {
    if (this.closed) return;
    if (active.flushTimer) clearTimeout(active.flushTimer);
    if (active.killTimer) clearTimeout(active.killTimer);
    this.flush();
    if (this.active === active) this.active = null;
    if (active.finished) {
      // The run ended with 'done' while its process was still live; now that it is gone the
      // summary's live fields (and whether it can be resumed) change.
      this.changed(active.runId);
    } else {
      const how = signal ? `the trainer process was killed (${signal})` : `the trainer process exited with code ${code}`;
      const lastLine = detail.split('\n').filter((l) => l.trim()).slice(-1)[0];
      const cause = active.lastError ?? (lastLine ? `${how}: ${lastLine}` : how);
      this.finish(active.runId, { status: 'failed', error: cause, finishedAt: nowIso(), trainerPid: null });
    }
    this.schedule();
  }

  private registerAdapter(runId: number, dir: string, job: TrainJob): number {
    const run = this.require(runId);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const weights = path.join(dir, ADAPTER_WEIGHTS);
    const ckpt = this.checkpoints.latest(runId);
    const rec = this.adapters.create({
      name: run.name,
      path: dir,
      source: 'run',
      baseModelId: run.modelId,
      // The library's name for display; the PEFT config keeps the path (base_model_name_or_path).
      baseModelName: (run.modelId !== null ? this.models.repo.get(run.modelId)?.name : undefined) ?? job.baseModelName,
      runId,
      checkpointId: ckpt?.id ?? null,
      parentAdapterId: run.parentAdapterId,
      datasetVersionId: run.datasetVersionId,
      template: run.template,
      rank: Number(config.r),
      alpha: Number(config.lora_alpha),
      targets: (config.target_modules as string[]) ?? [],
      layers: (config.layers_to_transform as number[] | null) ?? null,
      config,
      sizeBytes: fs.statSync(weights).size,
      sha256: sha256File(weights),
    });
    return rec.id;
  }

  private finish(runId: number, f: Parameters<RunsRepo['update']>[1]): void {
    this.runs.update(runId, f);
    this.changed(runId);
    const summary = this.summary(this.require(runId));
    if (TERMINAL.includes(summary.status)) {
      const ws = this.waiters.get(runId) ?? [];
      this.waiters.delete(runId);
      ws.forEach((w) => w(summary));
    }
  }

  /** Writes the pending metrics of the active run in one transaction. */
  private flush(): void {
    const a = this.active;
    if (!a) return;
    if (a.flushTimer) clearTimeout(a.flushTimer);
    a.flushTimer = null;
    if (a.pending.length === 0) return;
    const rows = a.pending;
    a.pending = [];
    this.metrics.insert(a.runId, rows);
  }

  private shutdown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const a = this.active;
    if (a && !a.finished) {
      this.flush();
      if (a.flushTimer) clearTimeout(a.flushTimer);
      if (a.killTimer) clearTimeout(a.killTimer);
      this.runs.update(a.runId, { status: 'interrupted', error: 'the app closed during training; resume it to continue from the last checkpoint', trainerPid: null });
    }
    for (const q of this.queue) this.runs.update(q.runId, { status: 'interrupted', error: 'the app closed before it started; resume it to start it' });
    this.closed = true;
    this.active = null;
    this.queue = [];
    a?.channel.kill('SIGTERM');
  }

  private changed(runId: number): void {
    this.engine.events.emit('runs.changed', this.summary(this.require(runId)));
  }

  private require(id: number): RunRecord {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run with id ${id} (see \`lora-studio runs list\`)`);
    return run;
  }

  private isResumable(run: RunRecord): boolean {
    return TERMINAL.includes(run.status) && run.status !== 'completed' && !this.live(run.id) && !this.queue.some((q) => q.runId === run.id);
  }

  private summary(run: RunRecord): RunSummary {
    const live = this.active?.runId === run.id ? this.active : null;
    const lastLoss = live?.pending.filter((m) => m.name === 'loss').at(-1) ?? this.metrics.last(run.id, 'loss');
    const lastEval = live?.pending.filter((m) => m.name === 'eval_loss').at(-1) ?? this.metrics.last(run.id, 'eval_loss');
    return {
      id: run.id,
      name: run.name,
      status: run.status,
      modelId: run.modelId,
      datasetVersionId: run.datasetVersionId,
      backend: run.backend,
      error: run.error,
      createdAt: run.createdAt,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      step: live?.step ?? lastLoss?.step ?? null,
      totalSteps: live?.totalSteps ?? run.estimate?.totalSteps ?? null,
      lastLoss: lastLoss?.value ?? null,
      lastEvalLoss: lastEval?.value ?? null,
      adapterId: this.adapters.forRun(run.id)?.id ?? null,
      trainableParams: run.estimate?.trainableParams ?? null,
    };
  }

  private samples(run: RunRecord): SampleEvent[] {
    const file = path.join(this.engine.paths.runs, String(run.id), 'samples.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => ({ runId: run.id, ...(JSON.parse(l) as { step: number; prompt: string; text: string }) }));
  }

  private resolveAdapter(ref: number | string): { id: number | null; dir: string } {
    if (typeof ref === 'number' || /^\d+$/.test(ref)) {
      const rec = this.adapters.get(Number(ref));
      if (!rec) throw new NotFoundError(`no adapter with id ${ref}`);
      return { id: rec.id, dir: rec.path };
    }
    const dir = path.resolve(ref);
    return { id: null, dir };
  }
}

function uniqueDir(base: string): string {
  let dir = base;
  for (let i = 2; fs.existsSync(dir); i++) dir = `${base}-${i}`;
  return dir;
}

const services = new WeakMap<Engine, RunsService>();

/** The engine's one runs service (it owns the trainer process and the queue). */
export function runsService(engine: Engine, opts?: RunsServiceOptions): RunsService {
  let s = services.get(engine);
  if (!s) {
    s = new RunsService(engine, opts);
    services.set(engine, s);
  }
  return s;
}
