/**
 * Importing a file or a folder as a dataset version.
 *
 * 1. hash the bytes (sha256; a folder hashes its files' names and hashes): the same bytes imported
 *    with the same request are detected before anything is written;
 * 2. stream the records (rows.ts): detect the shape on the first one, normalise each, and insert
 *    the rows in batched transactions into a version marked 'importing' that no read sees;
 * 3. draw the seeded train/eval split and mark the version 'ready'.
 *
 * For a big input the reading of step 2 runs in a worker thread (row-source.ts) that starts with
 * step 1: it parses while this thread hashes, then while this thread inserts, so two cores share
 * the work. Records already in stored form are recognised from their bytes (stored-bytes.ts) and
 * stored as written, unparsed.
 *
 * A bad line is skipped and reported ({line, reason}) or, with onError 'abort', stops the import.
 * Abort, cancel and any failure delete the unfinished version (and a dataset created for it), so
 * nothing is left behind; memory stays bounded by one chunk of the file and a few batches of rows.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors';
import type { DatasetsRepo } from '../storage/repos/datasets';
import { SKIPPED_KEPT } from '../storage/repos/datasets';
import { ImportCancelledError } from './import-errors';
import { resolveSource, type Source } from './readers';
import { openRowSource, type ReadThread, type RowSource } from './row-source';
import type { FileReport, RowOptions } from './rows';
import { evalIndices, splitSizes } from './split';
import type { Container, Mapping, Shape, SkippedLine, TextUnit } from './types';

export { ImportAbortedError, ImportCancelledError } from './import-errors';
export type { FileReport } from './rows';

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

const PROGRESS_EVERY_MS = 200;

export interface ImportHooks {
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** Called once the version exists, with its id (the service tracks what it is writing). */
  onVersion?: (versionId: number) => void;
  /** Which thread parses the files (default 'auto': a worker for big inputs); tests and benchmarks choose. */
  thread?: ReadThread;
}

/** Bytes per read while hashing; one buffer is reused, so hashing a big file makes no garbage. */
const HASH_READ_BYTES = 2 * 2 ** 20;

async function sha256Of(file: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
  const fh = await fs.promises.open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return hash.digest('hex');
      if (signal?.aborted) throw new ImportCancelledError();
      hash.update(buf.subarray(0, bytesRead));
      onBytes(bytesRead);
    }
  } finally {
    await fh.close();
  }
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
  const rowOptions: RowOptions = {
    shape: req.shape,
    mapping: req.mapping,
    textUnit,
    jsonField: req.jsonField,
    onError: req.onError,
    folder: source.kind === 'folder',
    keepSkipped: SKIPPED_KEPT,
  };
  // A worker starts reading now, parsing while this thread hashes; it is stopped on every way out.
  const rowSource = openRowSource(source.files, rowOptions, { thread: hooks.thread, totalBytes, signal });
  try {
    return await hashAndImport(repo, req, hooks, { source, totalBytes, textUnit, key, rowSource });
  } finally {
    await rowSource.close();
  }
}

/** Steps 1 to 3, with the rows coming from `rowSource`. */
async function hashAndImport(
  repo: DatasetsRepo,
  req: ImportRequest,
  hooks: ImportHooks,
  { source, totalBytes, textUnit, key, rowSource }: { source: Source; totalBytes: number; textUnit: TextUnit; key: string; rowSource: RowSource },
): Promise<ImportOutcome> {
  const { signal } = hooks;
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
    const files: FileReport[] = [];
    for await (const batch of rowSource) {
      if (signal?.aborted) throw new ImportCancelledError();
      const n = batch.ends.length;
      if (n > 0) repo.insertRowBytes(versionId, rows, batch);
      rows += n;
      for (const s of batch.skipped) skipped.push(s);
      skippedCount += batch.skippedCount;
      if (batch.fileDone) files.push(batch.fileDone);
      meter.report('reading', rows, skippedCount, batch.bytes, batch.file);
    }
    if (signal?.aborted) throw new ImportCancelledError();

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
