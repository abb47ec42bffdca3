/**
 * The typed protocol between the engine and a trainer process. The engine sends requests; the
 * trainer answers with events. Messages are plain JSON-compatible objects, so the same protocol
 * runs over child_process IPC (web, CLI) and Electron's utilityProcess (desktop).
 */
import type { RunConfigParsed } from '../../shared/contract/runs';
import type { TokenizedExample } from '../ml/train/batches';

/** Where the trainer gets its examples. */
export type TrainData =
  /** Rows of a dataset version, read from the app database and rendered with the model's tokenizer. */
  | { kind: 'dataset'; dbPath: string; versionId: number; template: string | null }
  /** Already tokenized (tests, benchmarks). */
  | { kind: 'tokenized'; train: TokenizedExample[]; eval: TokenizedExample[] };

export interface TrainJob {
  runId: number;
  config: RunConfigParsed;
  modelDir: string;
  /** Recorded as base_model_name_or_path in the adapter. */
  baseModelName: string;
  /** The run's folder: checkpoints/ and samples.jsonl go here. */
  runDir: string;
  /** Where the final adapter is written (must not exist yet). */
  adapterDir: string;
  data: TrainData;
  /** Continue from this checkpoint folder. */
  resumeFrom?: string;
  /** Start from this PEFT adapter folder (continual learning). */
  fromAdapterDir?: string;
  /** Compute backend to use (tfjs backend name); the engine's choice when omitted. */
  backend?: string;
}

export type TrainerRequest = { type: 'start'; job: TrainJob } | { type: 'pause' } | { type: 'resume' } | { type: 'cancel' };

export interface StepPayload {
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

export type TrainerEvent =
  | { type: 'ready'; pid: number }
  | {
      type: 'started';
      backend: string;
      totalSteps: number;
      trainableParams: number;
      trainExamples: number;
      evalExamples: number;
      resumedFromStep: number | null;
    }
  | ({ type: 'step' } & StepPayload)
  | { type: 'eval'; step: number; evalLoss: number; perplexity: number; improved: boolean; stopEarly: boolean }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'sample'; step: number; prompt: string; text: string }
  | { type: 'paused'; step: number }
  | { type: 'resumed'; step: number }
  | { type: 'log'; message: string }
  | { type: 'done'; status: 'completed' | 'cancelled'; step: number; adapterDir: string | null; stoppedEarly: boolean }
  | { type: 'error'; message: string; stack?: string; outOfMemory: boolean };

/** The engine's end of a trainer process, whatever runs it (child_process.fork, utilityProcess). */
export interface TrainerChannel {
  readonly pid: number | undefined;
  send(req: TrainerRequest): void;
  onEvent(listener: (ev: TrainerEvent) => void): void;
  /** Called once when the process is gone; `detail` is the end of its stderr. */
  onExit(listener: (code: number | null, signal: string | null, detail: string) => void): void;
  kill(signal?: NodeJS.Signals): void;
}

/** The trainer's end: how it hears requests and reports events. */
export interface ParentLink {
  send(ev: TrainerEvent): void;
  onRequest(listener: (req: TrainerRequest) => void): void;
  /** The engine went away (crashed or closed): the trainer must stop. */
  onDisconnect(listener: () => void): void;
}
