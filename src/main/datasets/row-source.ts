/**
 * Where an import's rows come from: the reading half (rows.ts) run on this thread, or in a worker
 * thread (import-worker.ts) so that reading and parsing (one core) overlap with hashing and the
 * SQLite inserts (this thread, the other core). Both give the same batches and the same errors;
 * the importer does not know which one it has.
 *
 * From source (tsx, vitest) the worker is import-worker.ts, loaded through tsx's loader; in the
 * Electron build it is dataset-import-worker.js beside the main bundle. Where neither exists the
 * import runs on this thread (slower, same result).
 */
import { Worker } from 'node:worker_threads';
import { findWorkerEntry, type WorkerEntry } from '../worker-entry';
import { ImportCancelledError, fromWire, type WireError } from './import-errors';
import type { SourceFile } from './readers';
import { produceRows, type Credit, type RowBatch, type RowOptions } from './rows';

export interface RowSource extends AsyncIterable<RowBatch> {
  /** Which thread reads. */
  readonly threaded: boolean;
  /** Batches read ahead and not yet taken (at most IN_FLIGHT; always 0 inline, where reading waits for the taking). */
  readonly queued: number;
  /** Stop reading and release the files (and the worker); safe to call more than once. */
  close(): Promise<void>;
}

/** 'auto': a worker for inputs of at least WORKER_MIN_BYTES, this thread for smaller ones. */
export type ReadThread = 'auto' | 'worker' | 'inline';

/**
 * Below this a worker's start (about 0.25 s of one core under tsx, much less in the Electron
 * build) costs about what the second core saves: this thread alone imports 55 to 90 MB/s.
 */
export const WORKER_MIN_BYTES = 32 * 2 ** 20;

/** Batches out of the worker at once (queued here, or being inserted): about 4 × BATCH_BYTES of rows. */
export const IN_FLIGHT = 4;

/** How long a stopped worker gets to close its files before it is terminated. */
const STOP_GRACE_MS = 2000;

function workerEntry(): WorkerEntry | undefined {
  return findWorkerEntry(import.meta.url, 'import-worker.ts', 'dataset-import-worker.js');
}

/**
 * Open the rows of `files`. The worker (when one is used) starts reading at once, so it works
 * while the caller hashes; the inline source reads only when iterated.
 */
export function openRowSource(files: SourceFile[], options: RowOptions, opts: { thread?: ReadThread; totalBytes: number; signal?: AbortSignal }): RowSource {
  const thread = opts.thread ?? 'auto';
  const entry = thread === 'inline' || (thread === 'auto' && opts.totalBytes < WORKER_MIN_BYTES) ? undefined : workerEntry();
  if (!entry) {
    if (thread === 'worker') throw new Error('the dataset import worker was not found (build the dataset-import-worker entry)');
    return inlineRows(files, options, opts.signal);
  }
  return workerRows(entry, files, options, opts.signal);
}

function inlineRows(files: SourceFile[], options: RowOptions, signal?: AbortSignal): RowSource {
  const gen = produceRows(files, options, { cancelled: () => signal?.aborted ?? false });
  return {
    threaded: false,
    queued: 0,
    [Symbol.asyncIterator]: () => gen,
    async close() {
      await gen.return();
    },
  };
}

type WorkerMessage = { type: 'batch'; batch: RowBatch } | { type: 'end' } | { type: 'error'; error: WireError };

function workerRows(entry: { spec: string | URL; eval: boolean }, files: SourceFile[], options: RowOptions, signal?: AbortSignal): RowSource {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(entry.spec, { eval: entry.eval, workerData: { files, options, stop, inFlight: IN_FLIGHT } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  // What has arrived and not been taken, and how the stream ended (once it has).
  const queue: RowBatch[] = [];
  let ended: { error?: Error } | undefined;
  let waiting: (() => void) | undefined;
  const settle = (end: { error?: Error }) => {
    ended ??= end;
    waiting?.();
  };
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'batch') queue.push(m.batch);
    else if (m.type === 'end') settle({});
    else settle({ error: fromWire(m.error) });
    waiting?.();
  });
  worker.on('error', (err) => settle({ error: new Error(`the dataset import worker failed: ${err.message}`) }));
  worker.once('exit', (code) => settle({ error: new Error(`the dataset import worker stopped unexpectedly (exit code ${code})`) }));
  const onAbort = () => settle({ error: new ImportCancelledError() });
  signal?.addEventListener('abort', onAbort, { once: true });

  let closed = false;
  async function close(): Promise<void> {
    signal?.removeEventListener('abort', onAbort);
    if (closed) return exited;
    closed = true;
    waiting?.();
    Atomics.store(new Int32Array(stop), 0, 1);
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  async function* batches(): AsyncGenerator<RowBatch, void, void> {
    try {
      for (;;) {
        while (queue.length === 0 && !ended && !closed) await new Promise<void>((resolve) => (waiting = resolve));
        waiting = undefined;
        // Closed by the consumer: whatever the worker did after that is of no interest.
        if (closed) return;
        const batch = queue.shift();
        // A batch that arrived before the end is still delivered; an error or cancel wins over it.
        if (ended?.error) throw ended.error;
        if (!batch) return;
        yield batch;
        if (closed) return;
        // Asked for the next one: this batch is inserted; its buffers go back for the worker to refill.
        const credit: Credit = { type: 'credit', data: batch.data.buffer, ends: batch.ends.buffer, lines: batch.lines.buffer };
        worker.postMessage(credit, [credit.data, credit.ends, credit.lines]);
      }
    } finally {
      await close();
    }
  }

  const gen = batches();
  return {
    threaded: true,
    get queued() {
      return queue.length;
    },
    [Symbol.asyncIterator]: () => gen,
    close,
  };
}
