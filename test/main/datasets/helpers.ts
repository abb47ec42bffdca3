/** Temp files and an in-memory database for the dataset tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { openDatabase } from '../../../src/main/storage/db';
import { createDatasetsRepo } from '../../../src/main/storage/repos/datasets';
import type { RecordReader, SourceRecord } from '../../../src/main/datasets/readers';

export const repoRoot = path.resolve(__dirname, '../../..');
export const examples = path.join(repoRoot, 'examples', 'datasets');
export const fixtures = path.resolve(repoRoot, '../shared/fixtures');

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-datasets-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let counter = 0;
/** Write `content` to a fresh file named `name` in `dir`. */
export function file(dir: string, name: string, content: string | Buffer): string {
  const sub = path.join(dir, String(counter++));
  fs.mkdirSync(sub);
  const p = path.join(sub, name);
  fs.writeFileSync(p, content);
  return p;
}

/**
 * Every record a reader yields, without the JSON text (unless `withText`) and without its bytes
 * (`raw`, checked to be the text's UTF-8 wherever a reader gives both).
 */
export async function readAll(reader: RecordReader, withText = false): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const b of reader) {
    for (const r of b.records) {
      const { text, raw, ...rest } = r;
      if (raw !== undefined) expect(Buffer.from(raw).toString('utf8')).toBe(text);
      out.push(withText && text !== undefined ? { ...rest, text } : rest);
    }
  }
  return out;
}

export function memoryRepo() {
  const { db } = openDatabase(':memory:');
  return { db, repo: createDatasetsRepo(db) };
}

export function counts(db: ReturnType<typeof memoryRepo>['db']) {
  const n = (t: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  return { datasets: n('datasets'), versions: n('dataset_versions'), rows: n('dataset_rows') };
}
