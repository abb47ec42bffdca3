/**
 * Training runs: the run config (one schema for the UI, the CLI's flags and --config file, and the
 * trainer process), the run list and details, live progress events and metric history.
 */
import { z } from 'zod';
import { call, event } from './define';

const positiveInt = z.number().int().min(1);

/** Everything a run needs, exactly as stored in runs.config_json. */
export const RunConfig = z
  .object({
    name: z.string().min(1).optional(),
    /** Model id, or the path of a model folder. */
    model: z.union([z.number().int().positive(), z.string().min(1)]),
    /** Dataset id or name (its latest version is used). */
    dataset: z.union([z.number().int().positive(), z.string().min(1)]),
    /** Dataset version number; latest when omitted. */
    datasetVersion: positiveInt.optional(),
    /** 'model' (the model's own chat template) or a built-in one (chatml, alpaca, plain); auto when omitted. */
    template: z.string().min(1).optional(),
    /** PEFT target_modules: leaf names (q_proj) or suffixes (attn.c_proj); the architecture's default when omitted. */
    targets: z.array(z.string().min(1)).min(1).optional(),
    /** 'all' or layer indices (PEFT layers_to_transform). */
    layers: z.union([z.literal('all'), z.array(z.number().int().min(0)).min(1)]).default('all'),
    rank: z.number().int().min(1, 'rank must be at least 1').max(4096).default(8),
    alpha: z.number().positive('alpha must be > 0').default(16),
    dropout: z.number().min(0).max(0.99).default(0.05),
    rslora: z.boolean().default(false),
    init: z.enum(['default', 'gaussian', 'pissa']).default('default'),
    rankPattern: z.record(z.string(), positiveInt).default({}),
    alphaPattern: z.record(z.string(), z.number().positive()).default({}),
    lr: z.number().positive('learning rate must be > 0').max(1).default(2e-4),
    scheduler: z.enum(['constant', 'linear', 'cosine']).default('cosine'),
    /** Warmup in optimizer steps. */
    warmup: z.number().int().min(0).default(0),
    weightDecay: z.number().min(0).default(0),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.999),
    eps: z.number().positive().default(1e-8),
    /** Global-norm clipping; 0 turns it off. */
    maxGradNorm: z.number().min(0).default(1),
    epochs: z.number().int().min(1).default(1),
    /** When set, the run stops after this many optimizer steps (epochs is then ignored). */
    maxSteps: positiveInt.optional(),
    batchSize: positiveInt.max(4096).default(4),
    gradAccum: positiveInt.max(4096).default(1),
    /**
     * Longest sequence in tokens (longer examples are truncated). Left out: 512, or the model's
     * context where that is shorter (the runs service decides once it knows the model).
     */
    seqLen: positiveInt.default(512),
    /** Train on completion tokens only (prompt tokens masked) when the dataset has prompts. */
    completionOnly: z.boolean().default(true),
    groupByLength: z.boolean().default(true),
    /** Share of rows held out for evaluation; when omitted the dataset version's own eval split is used. */
    evalSplit: z.number().min(0).max(0.9).optional(),
    /** Evaluate every N steps (0: only at the end). */
    evalEvery: z.number().int().min(0).default(0),
    /** Stop after N evaluations without a better eval loss (0: never). */
    earlyStopPatience: z.number().int().min(0).default(0),
    /** Checkpoint every N steps (0: only at the end). */
    checkpointEvery: z.number().int().min(0).default(0),
    /** Generate from samplePrompts every N steps (0: never). */
    sampleEvery: z.number().int().min(0).default(0),
    samplePrompts: z.array(z.string()).default([]),
    sampleMaxTokens: positiveInt.max(1024).default(32),
    seed: z.number().int().min(0).max(0xffffffff).default(42),
    /** Force a compute backend; the engine's choice when omitted. */
    backend: z.string().min(1).optional(),
    /** Continue training an adapter (id or folder): its rank, alpha and targets are used. */
    fromAdapter: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
  })
  .strict();

export type RunConfigInput = z.input<typeof RunConfig>;
export type RunConfigParsed = z.output<typeof RunConfig>;

export type RunStatus = 'queued' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface RunSummary {
  id: number;
  name: string;
  status: RunStatus;
  modelId: number | null;
  datasetVersionId: number | null;
  backend: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Last reported step / total steps (null before the first step). */
  step: number | null;
  totalSteps: number | null;
  lastLoss: number | null;
  lastEvalLoss: number | null;
  adapterId: number | null;
  trainableParams: number | null;
}

export interface CheckpointInfo {
  id: number;
  step: number;
  path: string;
  createdAt: string;
}

export interface RunDetail extends RunSummary {
  config: RunConfigParsed;
  checkpoints: CheckpointInfo[];
  /** Whether `runs.resume` can continue it (a checkpoint exists and it is not running). */
  resumable: boolean;
  /** Sample generations so far. */
  samples: SampleEvent[];
  estimate: RunEstimate | null;
}

export interface MetricPoint {
  step: number;
  value: number;
}

/** name → points in step order: loss, lr, grad_norm, tokens_per_s, eval_loss, eval_ppl, ... */
export type RunMetrics = Record<string, MetricPoint[]>;

export interface RunEstimate {
  trainableParams: number;
  /** Adapted modules (full paths). */
  modules: number;
  totalSteps: number;
  trainExamples: number;
  evalExamples: number;
  memory: { weightsBytes: number; adapterBytes: number; optimizerBytes: number; activationsBytes: number; totalBytes: number };
}

export interface StepEvent {
  runId: number;
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedMs: number;
  etaMs: number;
  memory: { rssBytes: number; tensorBytes: number; peakBytes: number };
}

export interface EvalEvent {
  runId: number;
  step: number;
  evalLoss: number;
  perplexity: number;
  improved: boolean;
}

export interface CheckpointEvent {
  runId: number;
  step: number;
  path: string;
}

export interface SampleEvent {
  runId: number;
  step: number;
  prompt: string;
  text: string;
}

export const RunId = z.object({ id: z.number().int().positive() }).strict();

export const runsCalls = {
  'runs.list': call<RunSummary[]>()(z.object({ status: z.string().optional() }).strict()),
  'runs.get': call<RunDetail>()(RunId),
  'runs.metrics': call<RunMetrics>()(z.object({ id: z.number().int().positive(), names: z.array(z.string()).optional(), sinceStep: z.number().int().min(0).optional() }).strict()),
  /** Validate a config and estimate params, steps and memory, without starting anything. */
  'runs.estimate': call<RunEstimate>()(z.object({ config: RunConfig }).strict()),
  /** Validate and queue a run (it starts when no other training runs). */
  'runs.create': call<RunSummary>()(z.object({ config: RunConfig }).strict()),
  'runs.cancel': call<RunSummary>()(RunId),
  'runs.pause': call<RunSummary>()(RunId),
  /** Unpause a paused run, or continue a stopped one from a checkpoint (the latest when step is omitted). */
  'runs.resume': call<RunSummary>()(z.object({ id: z.number().int().positive(), step: z.number().int().min(0).optional() }).strict()),
  /** Write the run as an Axolotl config or a TRL script, with its dataset, into an empty folder. */
  'runs.exportConfig': call<{ dir: string; files: string[]; rows: number }>()(
    z.object({ id: z.number().int().positive(), to: z.enum(['axolotl', 'trl']), out: z.string().min(1) }).strict(),
  ),
};

export const runsEvents = {
  'runs.changed': event<RunSummary>(),
  'runs.step': event<StepEvent>(),
  'runs.eval': event<EvalEvent>(),
  'runs.checkpoint': event<CheckpointEvent>(),
  'runs.sample': event<SampleEvent>(),
};
