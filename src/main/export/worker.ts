/**
 * Worker-thread entry of an export job. The job is synchronous file and number work, so it runs
 * here to keep the engine's thread (IPC, HTTP, the UI) responsive. Cancellation is a shared flag
 * the job polls between tensors; progress is posted at most every 100 ms.
 *
 * A merged export first selects the engine's compute backend (forced in settings, else the
 * fastest available) for its logits check.
 *
 * Messages to the parent: {type: 'progress', done, total, phase}, {type: 'done', result},
 * {type: 'error', kind, message}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ExportCancelled, describeFailure } from './job';
import { destinationOf, runExportJob, type ExportJob } from './run';

const { job, cancel, backend } = workerData as { job: ExportJob; cancel: SharedArrayBuffer; backend: string | null };
const flag = new Int32Array(cancel);
const port = parentPort!;
let lastPost = 0;
let lastPhase = '';

/** The merged export's logits check runs models: on the engine's backend, as the playground does. */
async function prepare(): Promise<void> {
  if (job.kind !== 'merged' || job.request.verify === false) return;
  const { selectBackend } = await import('../ml/backends');
  await selectBackend(backend);
}

prepare().then(() => runExportJob(job, {
  checkCancelled() {
    if (Atomics.load(flag, 0) === 1) throw new ExportCancelled();
  },
  progress(done, total, phase) {
    const now = Date.now();
    if (phase === lastPhase && done < total && now - lastPost < 100) return;
    lastPost = now;
    lastPhase = phase;
    port.postMessage({ type: 'progress', done, total, phase });
  },
})).then(
  (result) => port.postMessage({ type: 'done', result }),
  (err: unknown) => port.postMessage({ type: 'error', ...describeFailure(err, destinationOf(job)) }),
);
