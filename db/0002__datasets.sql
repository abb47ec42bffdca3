-- Dataset imports: a version is written in batches while its file streams in and becomes visible
-- only when complete ('ready'); a cancelled or failed import deletes its 'importing' version, and
-- one left by a crashed process (import_pid no longer running) is swept at the next import.

ALTER TABLE dataset_versions ADD COLUMN status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('importing', 'ready'));
ALTER TABLE dataset_versions ADD COLUMN import_pid INTEGER;
-- All lines skipped (skipped_json keeps the first 1000 of them).
ALTER TABLE dataset_versions ADD COLUMN skipped_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dataset_versions ADD COLUMN source_path TEXT;
ALTER TABLE dataset_versions ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
-- What the import was asked (container, shape, mapping, text unit, JSON key) and what it found
-- (shape and mapping per file); two imports of the same bytes with the same request are duplicates.
ALTER TABLE dataset_versions ADD COLUMN import_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE dataset_versions ADD COLUMN request_key TEXT NOT NULL DEFAULT '';

CREATE INDEX dataset_versions_status ON dataset_versions(status);

-- dataset_rows as a rowid table: rows are often 1 KB or more, and SQLite keeps WITHOUT ROWID rows
-- inside the primary-key b-tree, which splits pages on every few inserts (importing 1 KB rows is
-- about 4× faster this way). (version_id, idx) stays unique through an index.
CREATE TABLE dataset_rows_new (
  version_id INTEGER NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
  idx        INTEGER NOT NULL,           -- 0-based position among the version's rows
  line       INTEGER,                    -- 1-based line (or row) number in the source file
  split      TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'eval')),
  data_json  TEXT NOT NULL               -- normalised example: {"messages": [...]} or {"text": ...}
);
INSERT INTO dataset_rows_new (version_id, idx, line, split, data_json) SELECT version_id, idx, line, split, data_json FROM dataset_rows;
DROP TABLE dataset_rows;
ALTER TABLE dataset_rows_new RENAME TO dataset_rows;
CREATE UNIQUE INDEX dataset_rows_version_idx ON dataset_rows(version_id, idx);
