/**
 * Datasets, their versions and rows (tables datasets, dataset_versions, dataset_rows).
 * A version under import has status 'importing' and is invisible to every read here.
 */
import type { DB } from '../db';
import { nowIso } from '../db';
import type { SkippedLine } from '../../datasets/types';

export interface DatasetRecord {
  id: number;
  name: string;
  sourcePath: string | null;
  format: string;
  shape: string;
  mapping: Record<string, string> | null;
  createdAt: string;
  notes: string;
}

export interface VersionRecord {
  id: number;
  datasetId: number;
  version: number;
  contentHash: string;
  rowCount: number;
  skipped: SkippedLine[];
  skippedCount: number;
  splitSeed: number;
  evalFraction: number;
  sourcePath: string | null;
  sizeBytes: number;
  importInfo: Record<string, unknown>;
  createdAt: string;
}

export interface RowRecord {
  idx: number;
  line: number | null;
  split: 'train' | 'eval';
  dataJson: string;
}

interface DatasetRow {
  id: number;
  name: string;
  source_path: string | null;
  format: string;
  shape: string;
  mapping_json: string | null;
  created_at: string;
  notes: string;
}

interface VersionRow {
  id: number;
  dataset_id: number;
  version: number;
  content_hash: string;
  row_count: number;
  skipped_json: string;
  skipped_count: number;
  split_seed: number;
  eval_fraction: number;
  source_path: string | null;
  size_bytes: number;
  import_json: string;
  created_at: string;
}

const toDataset = (r: DatasetRow): DatasetRecord => ({
  id: r.id,
  name: r.name,
  sourcePath: r.source_path,
  format: r.format,
  shape: r.shape,
  mapping: r.mapping_json ? (JSON.parse(r.mapping_json) as Record<string, string>) : null,
  createdAt: r.created_at,
  notes: r.notes,
});

const toVersion = (r: VersionRow): VersionRecord => ({
  id: r.id,
  datasetId: r.dataset_id,
  version: r.version,
  contentHash: r.content_hash,
  rowCount: r.row_count,
  skipped: JSON.parse(r.skipped_json) as SkippedLine[],
  skippedCount: r.skipped_count,
  splitSeed: r.split_seed,
  evalFraction: r.eval_fraction,
  sourcePath: r.source_path,
  sizeBytes: r.size_bytes,
  importInfo: JSON.parse(r.import_json) as Record<string, unknown>,
  createdAt: r.created_at,
});

/** Rows kept in skipped_json; skipped_count has them all. */
export const SKIPPED_KEPT = 1000;

/**
 * Rows of an import as the database stores them: row i's data_json is the UTF-8 text
 * `data[ends[i - 1] ?? 0 .. ends[i])`, from line `lines[i]` (the batches the dataset reader makes).
 */
export interface RowBytes {
  data: Uint8Array;
  /** (count,) end offset of each row in `data`. */
  ends: Uint32Array;
  /** (count,) 1-based source line of each row. */
  lines: Float64Array;
}

/** Rows per multi-row INSERT: one statement call binds this many rows (fewer calls across the JS/C++ boundary). */
const ROWS_PER_INSERT = 32;

export function createDatasetsRepo(db: DB) {
  const VERSION_COLS = `id, dataset_id, version, content_hash, row_count, skipped_json, skipped_count, split_seed, eval_fraction,
    source_path, size_bytes, import_json, created_at`;
  const stmts = {
    insertDataset: db.prepare<[string, string | null, string, string, string | null, string]>(
      'INSERT INTO datasets (name, source_path, format, shape, mapping_json, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    nextVersion: db.prepare<[number], { v: number }>('SELECT COALESCE(MAX(version), 0) + 1 AS v FROM dataset_versions WHERE dataset_id = ?'),
    insertVersion: db.prepare(
      `INSERT INTO dataset_versions (dataset_id, version, content_hash, row_count, split_seed, eval_fraction, created_at,
         status, import_pid, source_path, size_bytes, import_json, request_key)
       VALUES (@datasetId, @version, @contentHash, 0, @splitSeed, @evalFraction, @createdAt, 'importing', @pid, @sourcePath, @sizeBytes, @importJson, @requestKey)`,
    ),
    insertRow: db.prepare<[number, number, number | null, string, string]>(
      'INSERT INTO dataset_rows (version_id, idx, line, split, data_json) VALUES (?, ?, ?, ?, ?)',
    ),
    // The text is bound as its UTF-8 bytes and stored as TEXT: no JS string is made for it on this
    // thread, and SQLite keeps the bytes as they are (its encoding is UTF-8).
    insertRowBytes: db.prepare<[number, number, number, Uint8Array]>(
      "INSERT INTO dataset_rows (version_id, idx, line, split, data_json) VALUES (?, ?, ?, 'train', CAST(? AS TEXT))",
    ),
    insertRowsBytes: db.prepare<unknown[]>(
      `INSERT INTO dataset_rows (version_id, idx, line, split, data_json) VALUES ${Array(ROWS_PER_INSERT).fill("(?, ?, ?, 'train', CAST(? AS TEXT))").join(', ')}`,
    ),
    finishVersion: db.prepare(
      `UPDATE dataset_versions SET status = 'ready', import_pid = NULL, row_count = @rowCount, skipped_json = @skippedJson,
         skipped_count = @skippedCount, import_json = @importJson WHERE id = @id`,
    ),
    updateDatasetMeta: db.prepare<[string, string, string | null, number]>('UPDATE datasets SET format = ?, shape = ?, mapping_json = ? WHERE id = ?'),
    deleteVersion: db.prepare<[number]>('DELETE FROM dataset_versions WHERE id = ?'),
    deleteDataset: db.prepare<[number]>('DELETE FROM datasets WHERE id = ?'),
    readyVersionCount: db.prepare<[number], { n: number }>(
      "SELECT COUNT(*) AS n FROM dataset_versions WHERE dataset_id = ? AND status = 'ready'",
    ),
    anyVersionCount: db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM dataset_versions WHERE dataset_id = ?'),
    getDataset: db.prepare<[number], DatasetRow>(
      `SELECT d.* FROM datasets d WHERE d.id = ? AND EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset_id = d.id AND v.status = 'ready')`,
    ),
    listDatasets: db.prepare<[], DatasetRow & { latest_version_id: number }>(
      `SELECT d.*, (SELECT v.id FROM dataset_versions v WHERE v.dataset_id = d.id AND v.status = 'ready' ORDER BY v.version DESC LIMIT 1) AS latest_version_id
       FROM datasets d WHERE EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset_id = d.id AND v.status = 'ready')
       ORDER BY d.id DESC`,
    ),
    versions: db.prepare<[number], VersionRow>(`SELECT ${VERSION_COLS} FROM dataset_versions WHERE dataset_id = ? AND status = 'ready' ORDER BY version`),
    versionById: db.prepare<[number], VersionRow>(`SELECT ${VERSION_COLS} FROM dataset_versions WHERE id = ? AND status = 'ready'`),
    versionByNumber: db.prepare<[number, number], VersionRow>(
      `SELECT ${VERSION_COLS} FROM dataset_versions WHERE dataset_id = ? AND version = ? AND status = 'ready'`,
    ),
    latestVersion: db.prepare<[number], VersionRow>(
      `SELECT ${VERSION_COLS} FROM dataset_versions WHERE dataset_id = ? AND status = 'ready' ORDER BY version DESC LIMIT 1`,
    ),
    byRequest: db.prepare<[string, string], VersionRow>(
      `SELECT ${VERSION_COLS} FROM dataset_versions WHERE content_hash = ? AND request_key = ? AND status = 'ready' ORDER BY id DESC LIMIT 1`,
    ),
    rowsPage: db.prepare<[number, number, number], RowRecord>(
      'SELECT idx, line, split, data_json AS dataJson FROM dataset_rows WHERE version_id = ? AND idx >= ? ORDER BY idx LIMIT ?',
    ),
    rowsPageSplit: db.prepare<[number, string, number, number], RowRecord>(
      'SELECT idx, line, split, data_json AS dataJson FROM dataset_rows WHERE version_id = ? AND split = ? ORDER BY idx LIMIT ? OFFSET ?',
    ),
    rowsAll: db.prepare<[number], RowRecord>('SELECT idx, line, split, data_json AS dataJson FROM dataset_rows WHERE version_id = ? ORDER BY idx'),
    rowsAllSplit: db.prepare<[number, string], RowRecord>(
      'SELECT idx, line, split, data_json AS dataJson FROM dataset_rows WHERE version_id = ? AND split = ? ORDER BY idx',
    ),
    splitCounts: db.prepare<[number], { split: 'train' | 'eval'; n: number }>(
      'SELECT split, COUNT(*) AS n FROM dataset_rows WHERE version_id = ? GROUP BY split',
    ),
    duplicateRows: db.prepare<[number], { n: number }>(
      'SELECT COALESCE(SUM(c - 1), 0) AS n FROM (SELECT COUNT(*) AS c FROM dataset_rows WHERE version_id = ? GROUP BY data_json HAVING c > 1)',
    ),
    setTrain: db.prepare<[number, number]>("UPDATE dataset_rows SET split = 'train' WHERE version_id = ? AND idx = ?"),
    setEval: db.prepare<[number, number]>("UPDATE dataset_rows SET split = 'eval' WHERE version_id = ? AND idx = ?"),
    setSplitParams: db.prepare<[number, number, number]>('UPDATE dataset_versions SET split_seed = ?, eval_fraction = ? WHERE id = ?'),
    staleImports: db.prepare<[], { id: number; dataset_id: number; import_pid: number | null }>(
      "SELECT id, dataset_id, import_pid FROM dataset_versions WHERE status = 'importing'",
    ),
    rename: db.prepare<[string, number]>('UPDATE datasets SET name = ? WHERE id = ?'),
  };

  const insertRows = db.transaction((versionId: number, rows: RowRecord[]) => {
    for (const r of rows) stmts.insertRow.run(versionId, r.idx, r.line, r.split, r.dataJson);
  });

  const insertRowBytes = db.transaction((versionId: number, firstIdx: number, rows: RowBytes) => {
    const { ends, lines } = rows;
    const data = Buffer.from(rows.data.buffer, rows.data.byteOffset, rows.data.byteLength);
    const n = ends.length;
    const args: unknown[] = new Array(ROWS_PER_INSERT * 4);
    let i = 0;
    let start = 0;
    for (; i + ROWS_PER_INSERT <= n; i += ROWS_PER_INSERT) {
      for (let j = 0, a = 0; j < ROWS_PER_INSERT; j++, a += 4) {
        args[a] = versionId;
        args[a + 1] = firstIdx + i + j;
        args[a + 2] = lines[i + j];
        args[a + 3] = data.subarray(start, ends[i + j]);
        start = ends[i + j];
      }
      stmts.insertRowsBytes.run(args);
    }
    for (; i < n; i++) {
      stmts.insertRowBytes.run(versionId, firstIdx + i, lines[i], data.subarray(start, ends[i]));
      start = ends[i];
    }
  });

  /** Delete a version; the dataset goes too when it has no other version left. */
  const deleteVersionAndOrphan = db.transaction((versionId: number, datasetId: number) => {
    stmts.deleteVersion.run(versionId);
    if (stmts.anyVersionCount.get(datasetId)!.n === 0) stmts.deleteDataset.run(datasetId);
  });

  return {
    /** A new dataset (no version yet: invisible until its first version is ready). */
    createDataset(d: { name: string; sourcePath: string | null; format: string; shape: string; mapping: Record<string, string> | null }): number {
      const info = stmts.insertDataset.run(d.name, d.sourcePath, d.format, d.shape, d.mapping ? JSON.stringify(d.mapping) : null, nowIso());
      return Number(info.lastInsertRowid);
    },

    /** Start a version in the 'importing' state, numbered after the dataset's last one. */
    startVersion(v: {
      datasetId: number;
      contentHash: string;
      splitSeed: number;
      evalFraction: number;
      sourcePath: string;
      sizeBytes: number;
      importInfo: unknown;
      requestKey: string;
    }): { id: number; version: number } {
      return db.transaction(() => {
        const version = stmts.nextVersion.get(v.datasetId)!.v;
        const info = stmts.insertVersion.run({
          datasetId: v.datasetId,
          version,
          contentHash: v.contentHash,
          splitSeed: v.splitSeed,
          evalFraction: v.evalFraction,
          createdAt: nowIso(),
          pid: process.pid,
          sourcePath: v.sourcePath,
          sizeBytes: v.sizeBytes,
          importJson: JSON.stringify(v.importInfo),
          requestKey: v.requestKey,
        });
        return { id: Number(info.lastInsertRowid), version };
      })();
    },

    /** Insert rows in one transaction (callers pass a few thousand at a time). */
    insertRows(versionId: number, rows: RowRecord[]): void {
      insertRows(versionId, rows);
    },

    /** Insert an import's batch (split 'train', indices from `firstIdx` on) in one transaction. */
    insertRowBytes(versionId: number, firstIdx: number, rows: RowBytes): void {
      insertRowBytes(versionId, firstIdx, rows);
    },

    finishVersion(versionId: number, f: { rowCount: number; skipped: SkippedLine[]; skippedCount: number; importInfo: unknown }): void {
      stmts.finishVersion.run({
        id: versionId,
        rowCount: f.rowCount,
        skippedJson: JSON.stringify(f.skipped.slice(0, SKIPPED_KEPT)),
        skippedCount: f.skippedCount,
        importJson: JSON.stringify(f.importInfo),
      });
    },

    updateDatasetMeta(datasetId: number, m: { format: string; shape: string; mapping: Record<string, string> | null }): void {
      stmts.updateDatasetMeta.run(m.format, m.shape, m.mapping ? JSON.stringify(m.mapping) : null, datasetId);
    },

    /** Remove an unfinished (or any) version and its rows, and its dataset if nothing else is left. */
    discardVersion(versionId: number, datasetId: number): void {
      deleteVersionAndOrphan(versionId, datasetId);
    },

    deleteDataset(datasetId: number): boolean {
      return stmts.deleteDataset.run(datasetId).changes > 0;
    },

    rename(datasetId: number, name: string): void {
      stmts.rename.run(name, datasetId);
    },

    get(datasetId: number): DatasetRecord | undefined {
      const r = stmts.getDataset.get(datasetId);
      return r ? toDataset(r) : undefined;
    },

    list(): (DatasetRecord & { latest: VersionRecord })[] {
      return stmts.listDatasets.all().map((r) => ({ ...toDataset(r), latest: toVersion(stmts.versionById.get(r.latest_version_id)!) }));
    },

    versions(datasetId: number): VersionRecord[] {
      return stmts.versions.all(datasetId).map(toVersion);
    },

    /** A ready version: by number, or the latest. */
    version(datasetId: number, version?: number): VersionRecord | undefined {
      const r = version === undefined ? stmts.latestVersion.get(datasetId) : stmts.versionByNumber.get(datasetId, version);
      return r ? toVersion(r) : undefined;
    },

    versionById(versionId: number): VersionRecord | undefined {
      const r = stmts.versionById.get(versionId);
      return r ? toVersion(r) : undefined;
    },

    /** A ready version imported from the same bytes with the same request. */
    findDuplicate(contentHash: string, requestKey: string): VersionRecord | undefined {
      const r = stmts.byRequest.get(contentHash, requestKey);
      return r ? toVersion(r) : undefined;
    },

    /** Rows from index `fromIdx` on (all splits), or the `offset`-th onwards of one split. */
    rows(versionId: number, opts: { offset: number; limit: number; split?: 'train' | 'eval' }): RowRecord[] {
      return opts.split
        ? stmts.rowsPageSplit.all(versionId, opts.split, opts.limit, opts.offset)
        : stmts.rowsPage.all(versionId, opts.offset, opts.limit);
    },

    /** Every row in order, streamed from SQLite. */
    iterateRows(versionId: number, split?: 'train' | 'eval'): IterableIterator<RowRecord> {
      return split ? stmts.rowsAllSplit.iterate(versionId, split) : stmts.rowsAll.iterate(versionId);
    },

    /** Counted in the table (a scan of the version's rows; callers that know the split compute it). */
    splitCounts(versionId: number): { train: number; eval: number } {
      const out = { train: 0, eval: 0 };
      for (const r of stmts.splitCounts.all(versionId)) out[r.split] = r.n;
      return out;
    },

    /** Rows whose stored example repeats an earlier row's exactly. */
    duplicateRowCount(versionId: number): number {
      return stmts.duplicateRows.get(versionId)!.n;
    },

    /**
     * Change the version's split in place: the rows of `previousEval` back to train, then the rows
     * of `eval` to eval (touching only those rows, not the whole table).
     */
    setSplit(versionId: number, s: { previousEval: Iterable<number>; eval: Iterable<number>; seed: number; fraction: number }): void {
      db.transaction(() => {
        for (const idx of s.previousEval) stmts.setTrain.run(versionId, idx);
        for (const idx of s.eval) stmts.setEval.run(versionId, idx);
        stmts.setSplitParams.run(s.seed, s.fraction, versionId);
      })();
    },

    /** Versions still 'importing' (this process's or a crashed one's). */
    importingVersions(): { id: number; datasetId: number; pid: number | null }[] {
      return stmts.staleImports.all().map((r) => ({ id: r.id, datasetId: r.dataset_id, pid: r.import_pid }));
    },
  };
}

export type DatasetsRepo = ReturnType<typeof createDatasetsRepo>;
