/**
 * Importing a file or a folder as a dataset version.
 *
 * 1. hash the bytes (sha256; a folder hashes its files' names and hashes): the same bytes imported
 *    with the same request are detected before anything is written;
 * 2. stream the records: detect the shape on the first one, normalise each, and insert the rows
 *    in batched transactions into a version marked 'importing' that no read sees;
 * 3. draw the seeded train/eval split and mark the version 'ready'.
 *
 * A bad line is skipped and reported ({line, reason}) or, with onError 'abort', stops the import.
 * Abort, cancel and any failure delete the unfinished version (and a dataset created for it), so
 * nothing is left behind; memory stays bounded by one chunk of the file and one batch of rows.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import type { DatasetsRepo, RowRecord } from '../storage/repos/datasets';
import { SKIPPED_KEPT } from '../storage/repos/datasets';
import { openReader, resolveSource, type Source, type SourceFile } from './readers';
import { RowError, UnknownShapeError, detectShape, hasRequiredKeys, isStoredForm, normalise, type ShapeChoice } from './shapes';
import { evalIndices, splitSizes } from './split';
import type { Container, Mapping, Shape, SkippedLine, TextUnit } from './types';

export interface ImportRequest {
  path: string;
  name?: string;
  /** Force the container; else from the extension (or the first bytes). */
  container?: Container;
  /** Force the shape; else detected from the first record. */
  shape?: Shape;
  mapping?: Mapping;
  /** .txt/.md: one example per file or per blank-line-separated block (default: block for a file, file for a folder). */
  textUnit?: TextUnit;
  /** JSON object files: the key holding the records. */
  jsonField?: string;
  onError: 'skip' | 'abort';
  evalFraction: number;
  seed: number;
  /** Same bytes, same request already imported: return that version, or import again. */
  onDuplicate: 'existing' | 'new-version' | 'new-dataset';
  /** Import as the next version of this dataset. */
  datasetId?: number;
}

export type ImportPhase = 'hashing' | 'reading' | 'splitting' | 'done';

export interface ImportProgress {
  phase: ImportPhase;
  rows: number;
  skipped: number;
  bytes: number;
  totalBytes: number;
  rowsPerSecond: number;
  bytesPerSecond: number;
  /** Seconds left at the current speed; null before there is a speed to go by. */
  etaSeconds: number | null;
  file?: string;
}

export interface FileReport {
  file: string;
  container: Container;
  shape: Shape;
  mapping: Mapping;
  rows: number;
  skipped: number;
}

export interface ImportOutcome {
  datasetId: number;
  versionId: number;
  version: number;
  rows: number;
  /** The first SKIPPED_KEPT skipped lines; skippedCount has them all. */
  skipped: SkippedLine[];
  skippedCount: number;
  format: string;
  shape: Shape | 'mixed';
  mapping: Mapping;
  files: FileReport[];
  train: number;
  eval: number;
  contentHash: string;
  bytes: number;
  seconds: number;
  /** Set when these bytes were imported before with the same request. */
  duplicateOf?: { datasetId: number; version: number };
  /** True when nothing was imported because the duplicate was returned. */
  reused: boolean;
}

export class ImportCancelledError extends UserError {
  constructor() {
    super('import cancelled; nothing was kept', 409);
    this.name = 'ImportCancelledError';
  }
}

/** A bad line under onError 'abort'. */
export class ImportAbortedError extends UserError {
  constructor(readonly skipped: SkippedLine) {
    super(`${skipped.file ? `${skipped.file} ` : ''}line ${skipped.line}: ${skipped.reason}. Nothing was imported (skip bad lines to import the rest: --on-error skip)`, 400);
    this.name = 'ImportAbortedError';
  }
}

/** Rows per insert transaction: large enough to amortise the commit, small enough to keep the UI live. */
const BATCH_ROWS = 4000;
const PROGRESS_EVERY_MS = 200;

export interface ImportHooks {
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** Called once the version exists, with its id (the service tracks what it is writing). */
  onVersion?: (versionId: number) => void;
}

async function sha256Of(file: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = crypto.createHash('sha256');
  const stream = fs.createReadStream(file, { highWaterMark: 4 << 20 });
  for await (const chunk of stream) {
    if (signal?.aborted) {
      stream.destroy();
      throw new ImportCancelledError();
    }
    hash.update(chunk as Buffer);
    onBytes((chunk as Buffer).length);
  }
  return hash.digest('hex');
}

/** The request as it changes the rows: two imports agree on this and the bytes → duplicates. */
export function requestKey(req: Pick<ImportRequest, 'container' | 'shape' | 'mapping' | 'textUnit' | 'jsonField'>): string {
  const mapping = req.mapping ? Object.fromEntries(Object.entries(req.mapping).sort(([a], [b]) => (a < b ? -1 : 1))) : undefined;
  return JSON.stringify({ container: req.container, shape: req.shape, mapping, textUnit: req.textUnit, jsonField: req.jsonField });
}

function datasetName(source: Source): string {
  const base = path.basename(source.root);
  return source.kind === 'file' ? base.replace(/\.[^.]+$/, '') || base : base;
}

class Meter {
  private readonly start = performance.now();
  private last = 0;
  constructor(
    private readonly totalBytes: number,
    private readonly emit?: (p: ImportProgress) => void,
  ) {}

  seconds(): number {
    return (performance.now() - this.start) / 1000;
  }

  report(phase: ImportPhase, rows: number, skipped: number, bytes: number, file?: string, force = false): void {
    if (!this.emit) return;
    const now = performance.now();
    if (!force && now - this.last < PROGRESS_EVERY_MS) return;
    this.last = now;
    const s = Math.max(1e-3, (now - this.start) / 1000);
    const bytesPerSecond = bytes / s;
    this.emit({
      phase,
      rows,
      skipped,
      bytes,
      totalBytes: this.totalBytes,
      rowsPerSecond: rows / s,
      bytesPerSecond,
      etaSeconds: phase === 'done' ? 0 : bytes > 0 ? Math.max(0, (this.totalBytes - bytes) / bytesPerSecond) : null,
      file,
    });
  }
}

export async function importDataset(repo: DatasetsRepo, req: ImportRequest, hooks: ImportHooks = {}): Promise<ImportOutcome> {
  const { signal } = hooks;
  const source = resolveSource(req.path, req.container);
  const totalBytes = source.files.reduce((n, f) => n + f.size, 0);
  if (totalBytes === 0) throw new UserError(`${source.root}: ${source.kind === 'file' ? 'the file is empty' : 'every file in the folder is empty'}`);
  const textUnit: TextUnit = req.textUnit ?? (source.kind === 'folder' ? 'file' : 'block');
  const key = requestKey(req);

  // 1. Hash.
  const hashMeter = new Meter(totalBytes, hooks.onProgress);
  let hashed = 0;
  const fileHashes: string[] = [];
  for (const f of source.files) {
    fileHashes.push(
      await sha256Of(
        f.path,
        (n) => {
          hashed += n;
          hashMeter.report('hashing', 0, 0, hashed, f.rel);
        },
        signal,
      ),
    );
  }
  const contentHash =
    source.kind === 'file'
      ? fileHashes[0]
      : crypto
          .createHash('sha256')
          .update(source.files.map((f, i) => `${f.rel.split(path.sep).join('/')}\0${fileHashes[i]}\n`).join(''))
          .digest('hex');

  const dup = repo.findDuplicate(contentHash, key);
  // Under 'abort', a version that skipped lines is not what was asked for: import (and fail) again.
  const reusable = dup && !(req.onError === 'abort' && dup.skippedCount > 0);
  if (dup && reusable && req.onDuplicate === 'existing' && (req.datasetId === undefined || req.datasetId === dup.datasetId)) {
    const d = repo.get(dup.datasetId)!;
    const info = dup.importInfo as { files?: FileReport[] };
    return {
      datasetId: dup.datasetId,
      versionId: dup.id,
      version: dup.version,
      rows: dup.rowCount,
      skipped: dup.skipped,
      skippedCount: dup.skippedCount,
      format: d.format,
      shape: d.shape as Shape | 'mixed',
      mapping: d.mapping ?? {},
      files: info.files ?? [],
      ...splitSizes(dup.rowCount, dup.evalFraction),
      contentHash,
      bytes: 0,
      seconds: hashMeter.seconds(),
      duplicateOf: { datasetId: dup.datasetId, version: dup.version },
      reused: true,
    };
  }

  // 2. Read and insert.
  let datasetId = req.datasetId ?? (dup && req.onDuplicate === 'new-version' ? dup.datasetId : undefined);
  let createdDataset = false;
  if (datasetId !== undefined) {
    if (!repo.get(datasetId)) throw new UserError(`dataset ${datasetId} does not exist`, 404);
  } else {
    datasetId = repo.createDataset({
      name: req.name ?? datasetName(source),
      sourcePath: source.root,
      format: source.kind === 'folder' ? 'folder' : source.files[0].container,
      shape: req.shape ?? 'text',
      mapping: req.mapping ?? null,
    });
    createdDataset = true;
  }
  const requestInfo = { container: req.container, shape: req.shape, mapping: req.mapping, textUnit, jsonField: req.jsonField, onError: req.onError };
  let versionId: number;
  let version: number;
  try {
    ({ id: versionId, version } = repo.startVersion({
      datasetId,
      contentHash,
      splitSeed: req.seed,
      evalFraction: req.evalFraction,
      sourcePath: source.root,
      sizeBytes: totalBytes,
      importInfo: { request: requestInfo },
      requestKey: key,
    }));
  } catch (err) {
    if (createdDataset) repo.deleteDataset(datasetId);
    throw err;
  }
  hooks.onVersion?.(versionId);

  try {
    const meter = new Meter(totalBytes, hooks.onProgress);
    const skipped: SkippedLine[] = [];
    let skippedCount = 0;
    let rows = 0;
    let bytesBefore = 0;
    const files: FileReport[] = [];
    const folder = source.kind === 'folder';

    for (const f of source.files) {
      const report = await importFile(f);
      files.push(report);
      bytesBefore += f.size;
    }

    async function importFile(f: SourceFile): Promise<FileReport> {
      let choice: ShapeChoice | undefined =
        f.container === 'text' ? { shape: 'text', mapping: { text: 'text' } } : undefined;
      let fileRows = 0;
      let fileSkipped = 0;
      const skip = (line: number, reason: string) => {
        const s: SkippedLine = folder ? { line, reason, file: f.rel } : { line, reason };
        if (req.onError === 'abort') throw new ImportAbortedError(folder ? s : { ...s, file: f.rel });
        if (skipped.length < SKIPPED_KEPT) skipped.push(s);
        skippedCount++;
        fileSkipped++;
      };
      const looksLikeRecord = (v: unknown) => {
        try {
          return hasRequiredKeys(v, detectShape(v, { shape: req.shape, mapping: req.mapping }));
        } catch {
          return false;
        }
      };
      const reader = await openReader(f, { textUnit, jsonField: req.jsonField, looksLikeRecord });
      let batch: RowRecord[] = [];
      for await (const { records, bytesRead } of reader) {
        if (signal?.aborted) throw new ImportCancelledError();
        for (const rec of records) {
          if (rec.error !== undefined) {
            skip(rec.line, rec.error);
            continue;
          }
          if (!choice) {
            try {
              choice = detectShape(rec.value, { shape: req.shape, mapping: req.mapping });
            } catch (err) {
              if (err instanceof UnknownShapeError) throw new UserError(`${f.path} line ${rec.line}: ${err.message}`);
              throw new UserError(`${f.path}: ${(err as Error).message}`);
            }
          }
          let dataJson: string;
          try {
            dataJson = rec.text !== undefined && isStoredForm(rec.value, choice) ? rec.text.trim() : JSON.stringify(normalise(rec.value, choice));
          } catch (err) {
            if (!(err instanceof RowError)) throw err;
            skip(rec.line, err.message);
            continue;
          }
          batch.push({ idx: rows++, line: rec.line, split: 'train', dataJson });
          fileRows++;
          if (batch.length >= BATCH_ROWS) {
            repo.insertRows(versionId, batch);
            batch = [];
          }
        }
        meter.report('reading', rows, skippedCount, bytesBefore + bytesRead, f.rel);
      }
      if (batch.length) repo.insertRows(versionId, batch);
      return { file: f.rel, container: f.container, shape: choice?.shape ?? req.shape ?? 'text', mapping: choice?.mapping ?? {}, rows: fileRows, skipped: fileSkipped };
    }

    if (rows === 0) {
      const first = skipped[0];
      const where = source.kind === 'file' ? source.root : `${source.root} (${source.files.length} files)`;
      throw new UserError(
        first
          ? `${where}: no examples could be imported; ${skippedCount} line(s) skipped, the first ${first.file ? `(${first.file}) ` : ''}at line ${first.line}: ${first.reason}`
          : `${where}: no records found (the file holds only blank lines or an empty list)`,
      );
    }
    if (signal?.aborted) throw new ImportCancelledError();

    // 3. Split and publish.
    meter.report('splitting', rows, skippedCount, totalBytes, undefined, true);
    repo.setSplit(versionId, { previousEval: [], eval: evalIndices(rows, req.evalFraction, req.seed), seed: req.seed, fraction: req.evalFraction });
    const shapes = [...new Set(files.filter((f) => f.rows > 0).map((f) => f.shape))];
    const shape: Shape | 'mixed' = shapes.length === 1 ? shapes[0] : 'mixed';
    const mapping = files.find((f) => f.rows > 0)?.mapping ?? {};
    const format = source.kind === 'folder' ? 'folder' : source.files[0].container;
    repo.finishVersion(versionId, { rowCount: rows, skipped, skippedCount, importInfo: { request: requestInfo, files, ignored: source.ignored } });
    // The dataset shows what its latest version holds.
    repo.updateDatasetMeta(datasetId, { format, shape, mapping });
    meter.report('done', rows, skippedCount, totalBytes, undefined, true);
    return {
      datasetId,
      versionId,
      version,
      rows,
      skipped,
      skippedCount,
      format,
      shape,
      mapping,
      files,
      ...splitSizes(rows, req.evalFraction),
      contentHash,
      bytes: totalBytes,
      seconds: meter.seconds(),
      duplicateOf: dup ? { datasetId: dup.datasetId, version: dup.version } : undefined,
      reused: false,
    };
  } catch (err) {
    repo.discardVersion(versionId, datasetId);
    throw err;
  }
}

/** Delete 'importing' versions whose process is gone (a crash or a kill mid-import). */
export function sweepAbandonedImports(repo: DatasetsRepo, activeHere: Set<number>): number {
  let swept = 0;
  for (const v of repo.importingVersions()) {
    if (activeHere.has(v.id)) continue;
    if (v.pid !== null && v.pid !== process.pid && processAlive(v.pid)) continue;
    repo.discardVersion(v.id, v.datasetId);
    swept++;
  }
  return swept;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
