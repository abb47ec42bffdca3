/**
 * Starts an export job in a worker thread and tracks it: progress with rate and ETA, cancel,
 * and a promise of the result (or an ExportFailure saying why it stopped).
 *
 * From source (tsx, vitest) the worker is worker.ts, loaded through tsx's loader; in the Electron
 * build it is export-worker.js beside the main bundle (an electron-vite main entry).
 */
import { Worker } from 'node:worker_threads';
import { findWorkerEntry, type WorkerEntry } from '../worker-entry';
import type { FailureKind } from './job';
import type { ExportJob, ExportResult } from './run';

export class ExportFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'ExportFailure';
  }
}

export interface ExportProgress {
  phase: string;
  done: number;
  total: number;
  fraction: number;
  /** Bytes per second over the current phase, once measurable. */
  bytesPerSecond: number | null;
  /** Seconds left in the current phase, once measurable. */
  etaSeconds: number | null;
}

export interface RunningExport {
  cancel(): void;
  readonly done: Promise<ExportResult>;
}

/**
 * Turns raw progress (bytes done of total, per phase) into rate and ETA: the rate is measured
 * from the start of the current phase, once 200 ms have passed.
 */
export function progressTracker(now: () => number = Date.now): (done: number, total: number, phase: string) => ExportProgress {
  let phase = '';
  let start = 0;
  let done0 = 0;
  return (done, total, p) => {
    const t = now();
    if (p !== phase) {
      phase = p;
      start = t;
      done0 = done;
    }
    const elapsed = (t - start) / 1000;
    const rate = elapsed > 0.2 && done > done0 ? (done - done0) / elapsed : null;
    return {
      phase,
      done,
      total,
      fraction: total > 0 ? done / total : 0,
      bytesPerSecond: rate,
      etaSeconds: rate ? Math.max(0, (total - done) / rate) : null,
    };
  };
}

function workerEntry(): WorkerEntry {
  const entry = findWorkerEntry(import.meta.url, 'worker.ts', 'export-worker.js');
  if (!entry) throw new Error('the export worker (export-worker.js) was not found beside the app bundle; build the export-worker entry');
  return entry;
}

export function startExport(job: ExportJob, onProgress: (p: ExportProgress) => void = () => {}, backend: string | null = null): RunningExport {
  const cancel = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancel);
  const { spec, eval: isEval } = workerEntry();
  const worker = new Worker(spec, { eval: isEval, workerData: { job, cancel, backend } });
  const track = progressTracker();
  const done = new Promise<ExportResult>((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: { type: string; done?: number; total?: number; phase?: string; result?: ExportResult; kind?: FailureKind; message?: string }) => {
      if (m.type === 'progress') {
        onProgress(track(m.done as number, m.total as number, m.phase as string));
      } else if (m.type === 'done') {
        settled = true;
        resolve(m.result as ExportResult);
        void worker.terminate();
      } else if (m.type === 'error') {
        settled = true;
        reject(new ExportFailure(m.kind as FailureKind, m.message as string));
        void worker.terminate();
      }
    });
    worker.on('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new ExportFailure('failed', `the export worker crashed: ${err.message}`));
    });
    worker.on('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new ExportFailure('failed', `the export worker stopped unexpectedly (exit code ${code})`));
    });
  });
  return {
    cancel() {
      Atomics.store(flag, 0, 1);
    },
    done,
  };
}
