-- LoRA Studio initial schema. Timestamps are ISO-8601 UTC strings; JSON columns hold text.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Base models the user registered (or that were found in the Hugging Face cache, or shipped).
CREATE TABLE models (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  path         TEXT NOT NULL UNIQUE,
  source       TEXT NOT NULL CHECK (source IN ('user', 'hf-cache', 'starter')),
  model_type   TEXT NOT NULL,
  architecture TEXT,
  params       INTEGER NOT NULL DEFAULT 0,
  size_bytes   INTEGER NOT NULL DEFAULT 0,
  dtype        TEXT,
  config_json  TEXT NOT NULL,
  added_at     TEXT NOT NULL
);

CREATE TABLE datasets (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  source_path  TEXT,
  format       TEXT NOT NULL,            -- container: jsonl, json, csv, tsv, parquet, text, folder
  shape        TEXT NOT NULL,            -- alpaca, sharegpt, messages, prompt-completion, text
  mapping_json TEXT,                     -- column mapping used at import, if any
  created_at   TEXT NOT NULL,
  notes        TEXT NOT NULL DEFAULT ''
);

-- A dataset's contents are immutable per version; runs point at a version.
CREATE TABLE dataset_versions (
  id            INTEGER PRIMARY KEY,
  dataset_id    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  version       INTEGER NOT NULL,
  content_hash  TEXT NOT NULL,           -- sha256 of the imported file(s)
  row_count     INTEGER NOT NULL,
  skipped_json  TEXT NOT NULL DEFAULT '[]',
  split_seed    INTEGER NOT NULL DEFAULT 0,
  eval_fraction REAL NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_hash ON dataset_versions(content_hash);

CREATE TABLE dataset_rows (
  version_id INTEGER NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
  idx        INTEGER NOT NULL,           -- 0-based position in the source
  line       INTEGER,                    -- 1-based line (or row) number in the source file
  split      TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'eval')),
  data_json  TEXT NOT NULL,              -- normalised example: {"messages": [...]} or {"text": ...}
  PRIMARY KEY (version_id, idx)
) WITHOUT ROWID;

CREATE TABLE run_presets (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  config_json TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

CREATE TABLE runs (
  id                 INTEGER PRIMARY KEY,
  name               TEXT NOT NULL,
  model_id           INTEGER REFERENCES models(id) ON DELETE SET NULL,
  dataset_version_id INTEGER REFERENCES dataset_versions(id) ON DELETE SET NULL,
  parent_adapter_id  INTEGER,            -- continual learning: the adapter the run started from
  config_json        TEXT NOT NULL,      -- the full run config, exactly as the UI / CLI gave it
  status             TEXT NOT NULL CHECK (status IN
                       ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled', 'interrupted')),
  backend            TEXT,
  template           TEXT,
  error              TEXT,
  notes              TEXT NOT NULL DEFAULT '',
  tags_json          TEXT NOT NULL DEFAULT '[]',
  created_at         TEXT NOT NULL,
  started_at         TEXT,
  finished_at        TEXT
);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name   TEXT NOT NULL,                  -- loss, eval_loss, lr, grad_norm, tokens_per_s, ...
  step   INTEGER NOT NULL,
  value  REAL NOT NULL,
  PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
  id         INTEGER PRIMARY KEY,
  run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step       INTEGER NOT NULL,
  path       TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (run_id, step)
);

CREATE TABLE adapters (
  id                 INTEGER PRIMARY KEY,
  name               TEXT NOT NULL,
  path               TEXT NOT NULL,
  source             TEXT NOT NULL CHECK (source IN ('run', 'checkpoint', 'import', 'resize', 'combine')),
  base_model_id      INTEGER REFERENCES models(id) ON DELETE SET NULL,
  base_model_name    TEXT,
  run_id             INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  checkpoint_id      INTEGER REFERENCES checkpoints(id) ON DELETE SET NULL,
  parent_adapter_id  INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
  dataset_version_id INTEGER REFERENCES dataset_versions(id) ON DELETE SET NULL,
  template           TEXT,
  rank               INTEGER NOT NULL,
  alpha              REAL NOT NULL,
  targets_json       TEXT NOT NULL,      -- ["q_proj", "v_proj"]
  layers_json        TEXT,               -- [0, 1, ...] or null for all
  config_json        TEXT NOT NULL,      -- adapter_config.json as written
  size_bytes         INTEGER NOT NULL,
  sha256             TEXT NOT NULL,
  tags_json          TEXT NOT NULL DEFAULT '[]',
  notes              TEXT NOT NULL DEFAULT '',
  created_at         TEXT NOT NULL
);

CREATE TABLE exports (
  id          INTEGER PRIMARY KEY,
  adapter_id  INTEGER REFERENCES adapters(id) ON DELETE SET NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('peft', 'merged', 'gguf')),
  path        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  options_json TEXT NOT NULL DEFAULT '{}',
  result_json TEXT,
  error       TEXT,
  created_at  TEXT NOT NULL,
  finished_at TEXT
);
