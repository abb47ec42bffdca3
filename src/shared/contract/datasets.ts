/** Datasets: import (with progress and cancel), shape detection, rows, preview as the model sees them, stats, split. */
import { z } from 'zod';
import { call, event } from './define';

export const DATASET_CONTAINERS = ['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text'] as const;
export const DATASET_SHAPES = ['alpaca', 'sharegpt', 'messages', 'prompt-completion', 'text'] as const;
export const DATASET_TEMPLATES = ['model', 'chatml', 'alpaca', 'plain'] as const;

export type DatasetContainer = (typeof DATASET_CONTAINERS)[number];
export type DatasetShape = (typeof DATASET_SHAPES)[number];
/** 'model': the model's own chat template (ChatML when it has none); else a built-in. */
export type DatasetTemplate = (typeof DATASET_TEMPLATES)[number];

/** The fields each shape reads (a column mapping maps these to the file's own key names). */
export const DATASET_SHAPE_FIELDS: Record<DatasetShape, { field: string; required: boolean; help: string }[]> = {
  alpaca: [
    { field: 'instruction', required: true, help: 'the task' },
    { field: 'input', required: false, help: 'extra context, added under the instruction' },
    { field: 'output', required: true, help: 'the answer to train on' },
    { field: 'system', required: false, help: 'a system message' },
    { field: 'history', required: false, help: 'earlier [instruction, answer] pairs' },
  ],
  sharegpt: [
    { field: 'conversations', required: true, help: 'the list of turns' },
    { field: 'from', required: true, help: 'key of the speaker in each turn (human, gpt, system)' },
    { field: 'value', required: true, help: 'key of the text in each turn' },
    { field: 'system', required: false, help: 'a system message' },
  ],
  messages: [
    { field: 'messages', required: true, help: 'the list of messages' },
    { field: 'role', required: true, help: 'key of the role in each message' },
    { field: 'content', required: true, help: 'key of the text in each message' },
  ],
  'prompt-completion': [
    { field: 'prompt', required: true, help: 'what the model is given' },
    { field: 'completion', required: true, help: 'the answer to train on' },
    { field: 'system', required: false, help: 'a system message' },
  ],
  text: [{ field: 'text', required: true, help: 'the whole text, all of it trained' }],
};

export interface DatasetMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  weight?: 0 | 1;
}

/** A stored example: a conversation or a plain text. */
export type DatasetExample = { messages: DatasetMessage[] } | { text: string };

export interface SkippedLine {
  line: number;
  reason: string;
  file?: string;
}

export interface DatasetFileReport {
  file: string;
  container: DatasetContainer;
  shape: DatasetShape;
  mapping: Record<string, string>;
  rows: number;
  skipped: number;
}

export interface DatasetVersionInfo {
  id: number;
  version: number;
  rows: number;
  train: number;
  eval: number;
  skippedCount: number;
  /** The first 1000 skipped lines. */
  skipped: SkippedLine[];
  contentHash: string;
  sourcePath: string | null;
  sizeBytes: number;
  splitSeed: number;
  evalFraction: number;
  files: DatasetFileReport[];
  createdAt: string;
}

export interface DatasetSummary {
  id: number;
  name: string;
  /** Container, or 'folder'. */
  format: string;
  /** A shape, or 'mixed' for a folder of several. */
  shape: string;
  mapping: Record<string, string> | null;
  sourcePath: string | null;
  createdAt: string;
  latest: DatasetVersionInfo;
}

export interface DatasetDetail extends DatasetSummary {
  versions: DatasetVersionInfo[];
}

export interface ImportResult {
  id: number;
  versionId: number;
  version: number;
  rows: number;
  skipped: SkippedLine[];
  skippedCount: number;
  format: string;
  shape: string;
  mapping: Record<string, string>;
  files: DatasetFileReport[];
  train: number;
  eval: number;
  contentHash: string;
  bytes: number;
  seconds: number;
  duplicateOf?: { datasetId: number; version: number };
  /** Nothing was imported: the same bytes (same request) were already, see duplicateOf. */
  reused: boolean;
}

export interface InspectResult {
  path: string;
  kind: 'file' | 'folder';
  files: { file: string; container: DatasetContainer; sizeBytes: number }[];
  ignored: string[];
  sizeBytes: number;
  /** Detected (or forced) for the first file. */
  container: DatasetContainer;
  shape: DatasetShape | null;
  mapping: Record<string, string>;
  /** Keys of the first record (columns for CSV/TSV/Parquet). */
  keys: string[];
  /** Why the shape could not be told, listing the understood shapes and the keys found. */
  shapeError?: string;
  /** The first records as read and as they would be stored. */
  samples: { line: number; raw?: unknown; example?: DatasetExample; error?: string }[];
  /** Lines already seen to be bad among the first records. */
  sampleSkipped: SkippedLine[];
}

export type ImportPhase = 'hashing' | 'reading' | 'splitting' | 'done' | 'failed' | 'cancelled';

export interface ImportProgressEvent {
  importId: string;
  phase: ImportPhase;
  rows: number;
  skipped: number;
  bytes: number;
  totalBytes: number;
  rowsPerSecond: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  file?: string;
  /** On 'failed'. */
  error?: string;
  /** On 'done'. */
  datasetId?: number;
}

export interface TokenPiece {
  text: string;
  /** 1 trained (answer + end-of-turn), 0 masked (prompt, markup). */
  trained: boolean;
  special: boolean;
}

export interface RenderedRow {
  text: string;
  pieces: TokenPiece[];
  tokens: number;
  trainedTokens: number;
  truncated: boolean;
}

export interface PreviewRow {
  idx: number;
  line: number | null;
  split: 'train' | 'eval';
  example: DatasetExample;
  /** With a model: the row as the model sees it, or why the template refuses it. */
  rendered?: RenderedRow;
  renderError?: string;
}

export interface PreviewResult {
  datasetId: number;
  version: number;
  total: number;
  offset: number;
  rows: PreviewRow[];
  /** The template actually used ('model' may fall back to a built-in). */
  template?: { name: DatasetTemplate; fallbackReason?: string; source: string };
}

export interface LengthHistogram {
  unit: 'tokens' | 'chars';
  bins: { from: number; to: number; count: number }[];
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
}

export interface DatasetStats {
  datasetId: number;
  version: number;
  rows: number;
  train: number;
  eval: number;
  /** Rows measured (a spread sample when the dataset is larger than sampleRows). */
  measured: number;
  /** Rows whose user prompt (or text) is blank. */
  empty: number;
  /** Rows that repeat an earlier row exactly. */
  duplicates: number;
  maxLength: number;
  /** Measured rows longer than maxLength. */
  overLong: number;
  truncatedShare: number;
  histogram: LengthHistogram;
  /** Measured rows the chat template refuses, with the first few reasons. */
  templateErrors: number;
  templateErrorSamples: { idx: number; line: number | null; reason: string }[];
  template?: { name: DatasetTemplate; fallbackReason?: string };
}

const Mapping = z.record(z.string().min(1), z.string().min(1));
const DatasetId = z.number().int().positive();
const ModelRef = z.union([z.number().int().positive(), z.string().min(1)]);

const SourceOptions = {
  path: z.string().min(1),
  container: z.enum(DATASET_CONTAINERS).optional(),
  shape: z.enum(DATASET_SHAPES).optional(),
  mapping: Mapping.optional(),
  textUnit: z.enum(['file', 'block']).optional(),
  jsonField: z.string().min(1).optional(),
};

export const ImportArgs = z
  .object({
    ...SourceOptions,
    name: z.string().min(1).optional(),
    onError: z.enum(['skip', 'abort']).default('skip'),
    evalFraction: z.number().min(0).max(0.9).default(0),
    seed: z.number().int().default(0),
    onDuplicate: z.enum(['existing', 'new-version', 'new-dataset']).default('existing'),
    datasetId: DatasetId.optional(),
    /** Chosen by the caller so it can cancel before the call returns; else generated. */
    importId: z.string().min(1).max(100).optional(),
  })
  .strict();

const VersionRef = { id: DatasetId, version: z.number().int().positive().optional() };

export const datasetsCalls = {
  'datasets.inspect': call<InspectResult>()(z.object({ ...SourceOptions, samples: z.number().int().min(1).max(50).default(5) }).strict()),
  'datasets.import': call<ImportResult>()(ImportArgs),
  'datasets.cancelImport': call<{ cancelled: boolean }>()(z.object({ importId: z.string().min(1) }).strict()),
  'datasets.list': call<DatasetSummary[]>()(z.object({}).strict()),
  'datasets.get': call<DatasetDetail>()(z.object({ id: DatasetId }).strict()),
  'datasets.preview': call<PreviewResult>()(
    z
      .object({
        ...VersionRef,
        offset: z.number().int().min(0).default(0),
        limit: z.number().int().min(1).max(200).default(20),
        split: z.enum(['train', 'eval']).optional(),
        model: ModelRef.optional(),
        template: z.enum(DATASET_TEMPLATES).default('model'),
        maxLength: z.number().int().positive().optional(),
      })
      .strict(),
  ),
  'datasets.stats': call<DatasetStats>()(
    z
      .object({
        ...VersionRef,
        model: ModelRef.optional(),
        template: z.enum(DATASET_TEMPLATES).default('model'),
        maxLength: z.number().int().positive().default(1024),
        sampleRows: z.number().int().min(1).max(100_000).default(2000),
        bins: z.number().int().min(1).max(200).default(20),
      })
      .strict(),
  ),
  'datasets.split': call<{ train: number; eval: number }>()(
    z.object({ ...VersionRef, evalFraction: z.number().min(0).max(0.9), seed: z.number().int().default(0) }).strict(),
  ),
  'datasets.rename': call<DatasetSummary>()(z.object({ id: DatasetId, name: z.string().min(1) }).strict()),
  'datasets.delete': call<{ deleted: boolean }>()(z.object({ id: DatasetId }).strict()),
};

export const datasetsEvents = {
  'datasets.importProgress': event<ImportProgressEvent>(),
  'datasets.changed': event<{ id: number | null }>(),
};
