/**
 * Where the examples come from: one file or a folder of files, each with its container
 * (from the extension, or from the first bytes when the extension says nothing), and the reader
 * that turns it into records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DATASET_EXTENSIONS } from '../../../shared/dataset-files';
import type { Container, TextUnit } from '../types';
import { readCsv } from './csv';
import { readJson, readSingleJsonRecord, sniffJson } from './json';
import { readJsonl } from './jsonl';
import { FileFormatError, type RecordReader, type StoredFormProbe } from './source';
import { readTextBlocks, readTextFile } from './text';

export interface SourceFile {
  path: string;
  /** Path relative to the imported folder (the file name for a single file). */
  rel: string;
  size: number;
  container: Container;
}

export interface Source {
  kind: 'file' | 'folder';
  root: string;
  files: SourceFile[];
  /** Files of a folder that were left out (unknown extension), relative paths. */
  ignored: string[];
}

const EXTENSIONS: Readonly<Record<string, Container>> = DATASET_EXTENSIONS;

export function containerFromExtension(file: string): Container | undefined {
  return EXTENSIONS[path.extname(file).toLowerCase()];
}

/** Guess from the first bytes when the extension does not tell. */
function sniffContainer(file: string): Container | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(64);
    const n = fs.readSync(fd, head, 0, 64, 0);
    if (n >= 4 && head.toString('latin1', 0, 4) === 'PAR1') return 'parquet';
    const text = head.subarray(0, n).toString('utf8').replace(/^\uFEFF/, '').trimStart();
    if (text.startsWith('{') || text.startsWith('[')) return 'json';
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function listFolder(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(dir, e.name);
      const stat = fs.statSync(full);
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) files.push(full);
    }
  };
  walk(root);
  return files;
}

/** Resolve a path to the files to import. Errors name the path and what is wrong with it. */
export function resolveSource(p: string, container?: Container): Source {
  const root = path.resolve(p);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(root);
  } catch {
    throw new FileFormatError(root, 'no such file or folder');
  }
  if (stat.isFile()) {
    const c = container ?? containerFromExtension(root) ?? sniffContainer(root);
    if (!c) {
      throw new FileFormatError(root, `cannot tell the file type from its extension "${path.extname(root)}"; use .jsonl, .json, .csv, .tsv, .parquet, .txt or .md, or choose the container`);
    }
    return { kind: 'file', root, files: [{ path: root, rel: path.basename(root), size: stat.size, container: c }], ignored: [] };
  }
  if (!stat.isDirectory()) throw new FileFormatError(root, 'is neither a file nor a folder');
  const files: SourceFile[] = [];
  const ignored: string[] = [];
  for (const f of listFolder(root)) {
    const rel = path.relative(root, f);
    const c = container ?? containerFromExtension(f);
    if (!c) ignored.push(rel);
    else files.push({ path: f, rel, size: fs.statSync(f).size, container: c });
  }
  if (files.length === 0) {
    throw new FileFormatError(root, `the folder holds no dataset files (.jsonl, .json, .csv, .tsv, .parquet, .txt, .md)${ignored.length ? `; found: ${ignored.slice(0, 5).join(', ')}` : ''}`);
  }
  return { kind: 'folder', root, files, ignored };
}

export interface ReaderOptions {
  textUnit: TextUnit;
  /** For JSON objects: the key holding the list of records. */
  jsonField?: string;
  /** Whether a lone JSON object is itself a record (vs. a container of records). */
  looksLikeRecord: (value: unknown) => boolean;
  /** JSON Lines and JSON lists: records already in stored form may come out unparsed (see StoredFormProbe). */
  probe?: StoredFormProbe;
}

export async function openReader(f: SourceFile, opts: ReaderOptions): Promise<RecordReader> {
  switch (f.container) {
    case 'jsonl':
      return readJsonl(f.path, opts.probe);
    case 'json': {
      if (opts.jsonField !== undefined) return readJson(f.path, { field: opts.jsonField, probe: opts.probe });
      const layout = await sniffJson(f.path, opts.looksLikeRecord);
      if (layout === 'jsonl') return readJsonl(f.path, opts.probe);
      if (layout === 'single-record') return readSingleJsonRecord(f.path);
      return readJson(f.path, { probe: opts.probe });
    }
    case 'csv':
      return readCsv(f.path, ',');
    case 'tsv':
      return readCsv(f.path, '\t');
    case 'parquet':
      // Loaded on first use: the Parquet libraries are most of what the readers load.
      return (await import('./parquet')).readParquet(f.path);
    case 'text':
      return opts.textUnit === 'file' ? readTextFile(f.path) : readTextBlocks(f.path);
  }
}

export { FileFormatError } from './source';
export type { RecordReader, SourceRecord, ReadBatch, StoredFormProbe } from './source';
