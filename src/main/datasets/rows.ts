/**
 * The reading half of an import: files in, batches of ready rows out.
 *
 * Each file is read by its reader, the shape is detected on its first record, and every record is
 * normalised into the stored example; bad lines are skipped (or, under onError 'abort', stop
 * everything with an ImportAbortedError). Rows leave in batches of UTF-8 bytes with offsets, the
 * form the database stores them in: a record already in stored form is copied as the file's bytes,
 * never decoded, re-serialised or re-encoded. The same code runs on the importing thread (small
 * files) or in the import worker (import-worker.ts), which transfers the batches' buffers to the
 * thread that inserts them.
 *
 * Leaves out: the database, hashing and progress timing; the importer does those.
 */
import { UserError } from '../errors';
import { ImportAbortedError } from './import-errors';
import { openReader, type SourceFile, type StoredFormProbe } from './readers';
import { storedBytesCheck } from './stored-bytes';
import { RowError, UnknownShapeError, detectShape, hasRequiredKeys, isStoredForm, normalise, type ShapeChoice } from './shapes';
import type { Container, Mapping, Shape, SkippedLine, TextUnit } from './types';

/** Rows per batch: large enough to amortise a commit, small enough to keep progress and cancel prompt. */
export const BATCH_ROWS = 4000;
/** Bytes of stored JSON per batch (a batch also ends at this size): bounds the memory of rows in flight. */
export const BATCH_BYTES = 4 * 2 ** 20;

/** What one file of the import gave. */
export interface FileReport {
  file: string;
  container: Container;
  shape: Shape;
  mapping: Mapping;
  rows: number;
  skipped: number;
}

/** What the reading half needs from the import request (plain data: it crosses to the worker). */
export interface RowOptions {
  shape?: Shape;
  mapping?: Mapping;
  textUnit: TextUnit;
  jsonField?: string;
  onError: 'skip' | 'abort';
  /** A folder import: skipped lines name their file. */
  folder: boolean;
  /** How many skipped lines the report keeps (the first ones); the rest are only counted. */
  keepSkipped: number;
}

/**
 * A batch of rows ready to insert, in file order. Row i's stored JSON (data_json) is
 * `data[ends[i - 1] ?? 0 .. ends[i])`, UTF-8; it came from line `lines[i]` of `file`.
 */
export interface RowBatch {
  // Each over its own ArrayBuffer, so the worker can transfer them.
  data: Uint8Array<ArrayBuffer>;
  /** (count,) end offset of each row in `data`. */
  ends: Uint32Array<ArrayBuffer>;
  /** (count,) 1-based line (CSV: the line the row starts on; Parquet: the row number). */
  lines: Float64Array<ArrayBuffer>;
  /** Lines skipped since the previous batch, as far as the report keeps them (the import's first `keepSkipped`). */
  skipped: SkippedLine[];
  /** How many lines were skipped since the previous batch (kept or not). */
  skippedCount: number;
  /** Bytes of the source read so far, all files together. */
  bytes: number;
  /** The file being read (relative path). */
  file: string;
  /** Set on a file's last batch. */
  fileDone?: FileReport;
}

/** A batch the inserting thread is done with, going back to the import worker: its buffers, transferred. */
export interface Credit {
  type: 'credit';
  data: ArrayBuffer;
  ends: ArrayBuffer;
  lines: ArrayBuffer;
}

const isJsonSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/** The first buffer a batch gets; it grows by doubling up to BATCH_BYTES + BATCH_SLACK, and later batches start at that size. */
const FIRST_CAPACITY = 256 * 2 ** 10;
/** Room past BATCH_BYTES for the row that fills a batch, so it rarely needs a larger buffer. */
const BATCH_SLACK = 2 ** 20;
/** Spare batch buffers kept for reuse: as many as batches can be in flight to the inserting thread. */
const POOL_SIZE = 4;

type BatchArrays = Pick<RowBatch, 'data' | 'ends' | 'lines'>;

/**
 * Batch buffers the consumer is done with, for the next batches: an import of any size cycles
 * through a handful of buffers instead of leaving one per batch for the garbage collector (whose
 * lag would show as resident memory). A batch whose buffers were transferred to another thread
 * comes back through the worker's messages, or not at all (detached buffers are ignored).
 */
export class BatchPool {
  private free: BatchArrays[] = [];

  give(b: { data: Uint8Array<ArrayBuffer>; ends: Uint32Array<ArrayBuffer>; lines: Float64Array<ArrayBuffer> }): void {
    if (this.free.length >= POOL_SIZE || b.data.buffer.byteLength === 0 || b.ends.buffer.byteLength === 0 || b.lines.buffer.byteLength === 0) return;
    this.free.push({ data: new Uint8Array(b.data.buffer), ends: new Uint32Array(b.ends.buffer), lines: new Float64Array(b.lines.buffer) });
  }

  take(): BatchArrays | undefined {
    return this.free.pop();
  }
}

/** Collects rows as UTF-8 bytes in one growing buffer; `take` hands the batch over and starts the next from the pool. */
class BatchBuilder {
  private data = Buffer.allocUnsafeSlow(0);
  private capacity = FIRST_CAPACITY;
  private size = 0;
  private ends: Uint32Array<ArrayBuffer>;
  private lines: Float64Array<ArrayBuffer>;
  count = 0;

  constructor(private readonly pool: BatchPool) {
    ({ ends: this.ends, lines: this.lines } = this.arrays());
  }

  get full(): boolean {
    return this.count === BATCH_ROWS || this.size >= BATCH_BYTES;
  }

  /** Fresh buffers for the next batch: pooled ones when there are, else new (data allocated on the first row). */
  private arrays(): { ends: Uint32Array<ArrayBuffer>; lines: Float64Array<ArrayBuffer> } {
    const spare = this.pool.take();
    if (!spare) return { ends: new Uint32Array(BATCH_ROWS), lines: new Float64Array(BATCH_ROWS) };
    this.data = Buffer.from(spare.data.buffer);
    return { ends: spare.ends, lines: spare.lines };
  }

  private reserve(n: number): void {
    if (this.size + n <= this.data.length) return;
    if (this.data.length > 0) this.capacity = Math.max(this.capacity, Math.min(this.data.length * 2, BATCH_BYTES + BATCH_SLACK));
    const grown = Buffer.allocUnsafeSlow(Math.max(this.capacity, this.size + n));
    this.data.copy(grown, 0, 0, this.size);
    this.data = grown;
  }

  /**
   * A row already in stored form: its JSON text's bytes (valid UTF-8, checked by the reader), less
   * the whitespace around the value; JSON allows only these four around a value, so this is
   * exactly what `text.trim()` would keep.
   */
  addRaw(raw: Uint8Array, line: number): void {
    let s = 0;
    let e = raw.length;
    while (s < e && isJsonSpace(raw[s])) s++;
    while (e > s && isJsonSpace(raw[e - 1])) e--;
    this.reserve(e - s);
    this.data.set(e - s === raw.length ? raw : raw.subarray(s, e), this.size);
    this.size += e - s;
    this.end(line);
  }

  addText(text: string, line: number): void {
    this.reserve(text.length * 3); // the most UTF-8 bytes a UTF-16 string can take
    this.size += this.data.write(text, this.size, 'utf8');
    this.end(line);
  }

  private end(line: number): void {
    this.ends[this.count] = this.size;
    this.lines[this.count] = line;
    this.count++;
  }

  take(): BatchArrays {
    const out = { data: new Uint8Array(this.data.buffer, 0, this.size), ends: this.ends.subarray(0, this.count), lines: this.lines.subarray(0, this.count) };
    this.data = Buffer.allocUnsafeSlow(0);
    this.size = 0;
    this.count = 0;
    ({ ends: this.ends, lines: this.lines } = this.arrays());
    return out;
  }
}

/**
 * Read `files` in order and yield their rows in batches. Throws UserError for a file that cannot
 * be read or whose shape is unknown, and ImportAbortedError for a bad line under 'abort'.
 * `cancelled` is polled between reads; when it returns true the generator stops early (the
 * consumer decides what that means). A batch is the consumer's until it asks for the next one;
 * then its buffers go back to `pool` (unless they were transferred away).
 */
export async function* produceRows(
  files: SourceFile[],
  opts: RowOptions,
  { cancelled = () => false, pool = new BatchPool() }: { cancelled?: () => boolean; pool?: BatchPool } = {},
): AsyncGenerator<RowBatch, void, void> {
  const builder = new BatchBuilder(pool);
  let bytesBefore = 0;
  let skippedKept = 0;
  for (const f of files) {
    let choice: ShapeChoice | undefined = f.container === 'text' ? { shape: 'text', mapping: { text: 'text' } } : undefined;
    let fileRows = 0;
    let fileSkipped = 0;
    let skipped: SkippedLine[] = [];
    let skippedCount = 0;
    let bytes = bytesBefore;
    let flushedAt = bytes;
    const skip = (line: number, reason: string) => {
      const s: SkippedLine = opts.folder ? { line, reason, file: f.rel } : { line, reason };
      if (opts.onError === 'abort') throw new ImportAbortedError(opts.folder ? s : { ...s, file: f.rel });
      if (skippedKept < opts.keepSkipped) {
        skipped.push(s);
        skippedKept++;
      }
      skippedCount++;
      fileSkipped++;
    };
    const flush = (fileDone?: FileReport): RowBatch => {
      const batch: RowBatch = { ...builder.take(), skipped, skippedCount, bytes, file: f.rel, fileDone };
      skipped = [];
      skippedCount = 0;
      flushedAt = bytes;
      return batch;
    };
    const looksLikeRecord = (v: unknown) => {
      try {
        return hasRequiredKeys(v, detectShape(v, { shape: opts.shape, mapping: opts.mapping }));
      } catch {
        return false;
      }
    };
    // Turned on once the shape is known, where the file's records can be stored as written.
    const probe: StoredFormProbe = {};
    const reader = await openReader(f, { textUnit: opts.textUnit, jsonField: opts.jsonField, looksLikeRecord, probe });
    for await (const { records, bytesRead } of reader) {
      if (cancelled()) return;
      bytes = bytesBefore + bytesRead;
      for (const rec of records) {
        if (rec.error !== undefined) {
          skip(rec.line, rec.error);
          continue;
        }
        if (rec.stored && rec.raw) {
          builder.addRaw(rec.raw, rec.line);
        } else {
          if (!choice) {
            try {
              choice = detectShape(rec.value, { shape: opts.shape, mapping: opts.mapping });
            } catch (err) {
              if (err instanceof UnknownShapeError) throw new UserError(`${f.path} line ${rec.line}: ${err.message}`);
              throw new UserError(`${f.path}: ${(err as Error).message}`);
            }
            probe.test = storedBytesCheck(choice);
          }
          try {
            if (rec.text !== undefined && isStoredForm(rec.value, choice)) {
              if (rec.raw) builder.addRaw(rec.raw, rec.line);
              else builder.addText(rec.text.trim(), rec.line);
            } else {
              builder.addText(JSON.stringify(normalise(rec.value, choice)), rec.line);
            }
          } catch (err) {
            if (!(err instanceof RowError)) throw err;
            skip(rec.line, err.message);
            continue;
          }
        }
        fileRows++;
        if (builder.full) {
          const batch = flush();
          yield batch;
          pool.give(batch);
        }
      }
      // A stretch of skipped (or very small) rows still reports how far the reading has got.
      if (bytes - flushedAt >= BATCH_BYTES) {
        const batch = flush();
        yield batch;
        pool.give(batch);
      }
    }
    bytesBefore += f.size;
    bytes = bytesBefore;
    const last = flush({ file: f.rel, container: f.container, shape: choice?.shape ?? opts.shape ?? 'text', mapping: choice?.mapping ?? {}, rows: fileRows, skipped: fileSkipped });
    yield last;
    pool.give(last);
  }
}
