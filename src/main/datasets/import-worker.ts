/**
 * Worker-thread entry of a dataset import: reads, parses and normalises the files (rows.ts) and
 * posts the batches of ready rows, their buffers transferred, to the thread that inserts them.
 * Parsing is most of an import's work; here it runs beside the inserts instead of between them.
 *
 * Flow control: at most `inFlight` batches are out (posted and not yet given back); the importing
 * thread gives each one back, its buffers transferred again, once it has inserted it, so memory
 * stays bounded however far the reading could run ahead and the same few buffers carry the whole
 * import. Stopping: the shared flag is set (polled between reads) and 'stop' wakes a wait for
 * credit; the reader's files are closed and the thread ends by itself.
 *
 * workerData: {files, options, stop: SharedArrayBuffer(4), inFlight}. Messages from the parent:
 * {type: 'credit', data, ends, lines} (the buffers of a batch it is done with), 'stop'. Messages to
 * the parent: {type: 'batch', batch}, {type: 'end'}, {type: 'error', error: WireError}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SourceFile } from './readers';
import { toWire } from './import-errors';
import { BatchPool, produceRows, type Credit, type RowOptions } from './rows';

const { files, options, stop, inFlight } = workerData as { files: SourceFile[]; options: RowOptions; stop: SharedArrayBuffer; inFlight: number };
const port = parentPort!;
const stopFlag = new Int32Array(stop);
const stopped = () => Atomics.load(stopFlag, 0) === 1;

const pool = new BatchPool();
let credits = inFlight;
let wake: (() => void) | undefined;
const onMessage = (m: Credit | 'stop') => {
  if (m !== 'stop') {
    credits++;
    pool.give({ data: new Uint8Array(m.data), ends: new Uint32Array(m.ends), lines: new Float64Array(m.lines) });
  }
  wake?.();
};
port.on('message', onMessage);

async function run(): Promise<void> {
  for await (const batch of produceRows(files, options, { cancelled: stopped, pool })) {
    while (credits === 0 && !stopped()) await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
    if (stopped()) return; // leaving the loop closes the reader's file
    credits--;
    port.postMessage({ type: 'batch', batch }, [batch.data.buffer, batch.ends.buffer, batch.lines.buffer]);
  }
  port.postMessage({ type: 'end' });
}

run()
  .catch((err: unknown) => port.postMessage({ type: 'error', error: toWire(err) }))
  // Nothing left to wait for: the thread exits once the port stops holding it open.
  .finally(() => port.off('message', onMessage));
