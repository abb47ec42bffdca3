/**
 * File extensions read as datasets and the reader each means (a folder import takes the files
 * with these). Plain data with no imports: the engine's readers (also in the import worker, which
 * starts without zod) and the renderer's file pickers share it.
 */
export const DATASET_EXTENSIONS = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.parquet': 'parquet',
  '.pq': 'parquet',
  '.txt': 'text',
  '.text': 'text',
  '.md': 'text',
  '.markdown': 'text',
} as const satisfies Record<string, 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet' | 'text'>;

/** Whether a file name has one of DATASET_EXTENSIONS (case-insensitive). */
export function isDatasetFile(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && Object.hasOwn(DATASET_EXTENSIONS, name.slice(dot).toLowerCase());
}
