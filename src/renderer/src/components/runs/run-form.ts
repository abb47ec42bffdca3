/**
 * The new-run form's state and its translation to and from a run config (runs.ts RunConfig).
 * The form holds what the controls show (e.g. "stop after N epochs" or "after N steps"); the
 * config holds what the engine reads. The grid's modules and layers come from ./grid.ts.
 */
import type { PresetConfigParsed, RunConfigInput, RunConfigParsed } from '../../../../shared/contract';
import type { TargetChoice } from './grid';

export type Scheduler = RunConfigParsed['scheduler'];
export type LoraInit = RunConfigParsed['init'];

export interface RunForm {
  name: string;
  modelId: number | null;
  datasetId: number | null;
  /** null: the dataset's latest version. */
  datasetVersion: number | null;
  /** '' lets the engine choose (the model's template, else a built-in). */
  template: string;
  fromAdapter: number | null;

  rank: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  init: LoraInit;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;

  lr: number;
  scheduler: Scheduler;
  warmup: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;

  stopBy: 'epochs' | 'steps';
  epochs: number;
  maxSteps: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  completionOnly: boolean;
  groupByLength: boolean;

  /** 'dataset': the dataset version's own eval rows; 'fraction': hold out evalSplit of the rows. */
  evalSource: 'dataset' | 'fraction';
  evalSplit: number;
  evalEvery: number;
  earlyStopPatience: number;
  checkpointEvery: number;
  sampleEvery: number;
  /** One prompt per line. */
  samplePrompts: string;
  sampleMaxTokens: number;

  seed: number;
  /** '' lets the engine choose the fastest available backend. */
  backend: string;
}

/** The engine's defaults, as the form shows them. */
export function defaultForm(): RunForm {
  return {
    name: '',
    modelId: null,
    datasetId: null,
    datasetVersion: null,
    template: '',
    fromAdapter: null,
    rank: 8,
    alpha: 16,
    rslora: false,
    dropout: 0.05,
    init: 'default',
    rankPattern: {},
    alphaPattern: {},
    lr: 2e-4,
    scheduler: 'cosine',
    warmup: 0,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    maxGradNorm: 1,
    stopBy: 'epochs',
    epochs: 1,
    maxSteps: 100,
    batchSize: 4,
    gradAccum: 1,
    seqLen: 512,
    completionOnly: true,
    groupByLength: true,
    evalSource: 'dataset',
    evalSplit: 0.1,
    evalEvery: 0,
    earlyStopPatience: 0,
    checkpointEvery: 0,
    sampleEvery: 0,
    samplePrompts: '',
    sampleMaxTokens: 32,
    seed: 42,
    backend: '',
  };
}

/** The training settings (everything but model, dataset, adapter and name): what a preset keeps. */
export function settingsOf(form: RunForm, targets: TargetChoice | null): Omit<RunConfigInput, 'model' | 'dataset'> {
  const prompts = form.samplePrompts
    .split('\n')
    .map((p) => p.trim())
    .filter(Boolean);
  return {
    ...(form.template ? { template: form.template } : {}),
    ...(targets ? { targets: targets.targets, layers: targets.layers } : {}),
    rank: form.rank,
    alpha: form.alpha,
    dropout: form.dropout,
    rslora: form.rslora,
    init: form.init,
    rankPattern: form.rankPattern,
    alphaPattern: form.alphaPattern,
    lr: form.lr,
    scheduler: form.scheduler,
    warmup: form.warmup,
    weightDecay: form.weightDecay,
    beta1: form.beta1,
    beta2: form.beta2,
    eps: form.eps,
    maxGradNorm: form.maxGradNorm,
    epochs: form.epochs,
    ...(form.stopBy === 'steps' ? { maxSteps: form.maxSteps } : {}),
    batchSize: form.batchSize,
    gradAccum: form.gradAccum,
    seqLen: form.seqLen,
    completionOnly: form.completionOnly,
    groupByLength: form.groupByLength,
    ...(form.evalSource === 'fraction' ? { evalSplit: form.evalSplit } : {}),
    evalEvery: form.evalEvery,
    earlyStopPatience: form.earlyStopPatience,
    checkpointEvery: form.checkpointEvery,
    sampleEvery: prompts.length ? form.sampleEvery : 0,
    samplePrompts: prompts,
    sampleMaxTokens: form.sampleMaxTokens,
    seed: form.seed,
    ...(form.backend ? { backend: form.backend } : {}),
  };
}

/** The run config the form describes; null until a model and a dataset are chosen. */
export function formToConfig(form: RunForm, targets: TargetChoice | null): RunConfigInput | null {
  if (form.modelId === null || form.datasetId === null) return null;
  const settings = settingsOf(form, targets);
  return {
    ...(form.name.trim() ? { name: form.name.trim() } : {}),
    model: form.modelId,
    dataset: form.datasetId,
    ...(form.datasetVersion !== null ? { datasetVersion: form.datasetVersion } : {}),
    ...settings,
    ...(form.fromAdapter !== null ? { fromAdapter: form.fromAdapter } : {}),
  };
}

/**
 * A form filled from a stored config or preset, over `base` (which keeps the fields the config
 * does not name: a preset leaves the model and dataset chosen). Model and dataset ids are taken
 * only when they are ids; names and paths are the caller's to resolve.
 */
export function configToForm(config: RunConfigParsed | PresetConfigParsed, base: RunForm): RunForm {
  const c = config as Partial<RunConfigParsed> & PresetConfigParsed;
  return {
    ...base,
    name: base.name,
    modelId: typeof c.model === 'number' ? c.model : base.modelId,
    datasetId: typeof c.dataset === 'number' ? c.dataset : base.datasetId,
    datasetVersion: 'dataset' in c ? (c.datasetVersion ?? null) : base.datasetVersion,
    fromAdapter: typeof c.fromAdapter === 'number' ? c.fromAdapter : 'dataset' in c ? null : base.fromAdapter,
    template: c.template ?? '',
    rank: c.rank,
    alpha: c.alpha,
    rslora: c.rslora,
    dropout: c.dropout,
    init: c.init,
    rankPattern: { ...c.rankPattern },
    alphaPattern: { ...c.alphaPattern },
    lr: c.lr,
    scheduler: c.scheduler,
    warmup: c.warmup,
    weightDecay: c.weightDecay,
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    maxGradNorm: c.maxGradNorm,
    stopBy: c.maxSteps !== undefined ? 'steps' : 'epochs',
    epochs: c.epochs,
    maxSteps: c.maxSteps ?? base.maxSteps,
    batchSize: c.batchSize,
    gradAccum: c.gradAccum,
    seqLen: c.seqLen,
    completionOnly: c.completionOnly,
    groupByLength: c.groupByLength,
    evalSource: c.evalSplit !== undefined ? 'fraction' : 'dataset',
    evalSplit: c.evalSplit ?? base.evalSplit,
    evalEvery: c.evalEvery,
    earlyStopPatience: c.earlyStopPatience,
    checkpointEvery: c.checkpointEvery,
    sampleEvery: c.sampleEvery,
    samplePrompts: c.samplePrompts.join('\n'),
    sampleMaxTokens: c.sampleMaxTokens,
    seed: c.seed,
    backend: c.backend ?? '',
  };
}
