/**
 * The import with its reading in a worker thread (what big files get): the same rows, reports and
 * errors as on the importing thread, cancel and abort leaving nothing, the worker gone afterwards;
 * and the fast path for lines already in stored form storing exactly what parsing would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ImportAbortedError,
  ImportCancelledError,
  importDataset,
  type ImportHooks,
  type ImportOutcome,
  type ImportRequest,
} from '../../../src/main/datasets/importer';
import { resolveSource } from '../../../src/main/datasets/readers';
import { CHUNK_BYTES } from '../../../src/main/datasets/readers/source';
import { IN_FLIGHT, openRowSource } from '../../../src/main/datasets/row-source';
import { BATCH_ROWS } from '../../../src/main/datasets/rows';
import { isStoredForm, normalise, type ShapeChoice } from '../../../src/main/datasets/shapes';
import { counts, examples, file, memoryRepo, tempDir } from './helpers';

const dir = tempDir();
const base: Omit<ImportRequest, 'path'> = { onError: 'skip', evalFraction: 0.1, seed: 3, onDuplicate: 'new-dataset' };
/** Rows of the generated chat files: several read chunks, more batches than can be in flight. */
const ROWS = 40_000;
const MESSAGES: ShapeChoice = { shape: 'messages', mapping: { messages: 'messages', role: 'role', content: 'content' } };

/** Import on one thread or the other; the outcome without timings, and every row as stored. */
async function importOn(thread: 'inline' | 'worker', req: ImportRequest, hooks: ImportHooks = {}) {
  const { db, repo } = memoryRepo();
  const r = await importDataset(repo, req, { ...hooks, thread });
  const { seconds: _s, ...outcome } = r;
  return { db, repo, outcome, rows: repo.rows(r.versionId, { offset: 0, limit: 1e7 }) };
}

async function failureOn(thread: 'inline' | 'worker', req: ImportRequest, hooks: ImportHooks = {}) {
  const { db, repo } = memoryRepo();
  const err = await importDataset(repo, req, { ...hooks, thread }).then(
    (r: ImportOutcome) => new Error(`imported ${r.rows} rows`),
    (e: unknown) => e as Error,
  );
  return { err, counts: counts(db) };
}

/**
 * A chat file of several read chunks: most lines in stored form (spaced, CRLF, non-Latin), some
 * needing a rewrite, some bad; the first chunk is parsed before the shape is known, later chunks
 * go through the byte check.
 */
function chatFile(name: string, rows: number): { path: string; lines: string[] } {
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const q = `Question ${i}: ${'données 数据 '.repeat(i % 7)}?`;
    const a = `Answer ${i} ${'модель '.repeat(i % 5)}👍`;
    switch (i % 10) {
      case 3: // spaced as people write it
        lines.push(`  { "messages" : [ {"role": "user", "content": ${JSON.stringify(q)}}, {"content": ${JSON.stringify(a)}, "role": "assistant", "weight": 1} ] }  `);
        break;
      case 5: // a role name to rewrite
        lines.push(JSON.stringify({ messages: [{ role: 'human', content: q }, { role: 'gpt', content: a }] }));
        break;
      case 7: // bad lines, each a different reason
        lines.push(i % 20 === 7 ? `{"messages": [{"role": "user", "content": "${q}"}, ` : JSON.stringify({ messages: [{ role: 'user', content: q }] }));
        break;
      case 9: // blank to trim(), not to bytes
        lines.push(JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: '\u3000' }] }));
        break;
      default:
        lines.push(JSON.stringify({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: q }, { role: 'assistant', content: a }] }));
    }
  }
  const text = lines.map((l, i) => (i % 4 === 1 ? `${l}\r\n` : `${l}\n`)).join('');
  expect(text.length).toBeGreaterThan(3 * CHUNK_BYTES);
  return { path: file(dir, name, text), lines };
}

describe('reading in a worker thread', () => {
  it('gives the same rows, lines, split, files and skipped lines as reading here', async () => {
    const folder = path.join(dir, 'folder');
    fs.mkdirSync(folder);
    for (const f of ['alpaca.jsonl', 'sharegpt.json', 'messages.jsonl', 'chat.parquet', 'prompt-completion.csv', 'qa.tsv', 'notes.txt', 'malformed.jsonl']) {
      fs.copyFileSync(path.join(examples, f), path.join(folder, f));
    }
    const chat = chatFile('chat.jsonl', ROWS);
    for (const p of [folder, chat.path, path.join(examples, 'guide.md')]) {
      const here = await importOn('inline', { ...base, path: p });
      const there = await importOn('worker', { ...base, path: p });
      expect(there.outcome).toEqual(here.outcome);
      expect(there.rows).toEqual(here.rows);
    }
  });

  it('stores a stored-form line as written and the others as parsing makes them, on either path', async () => {
    const { path: p, lines } = chatFile('fast.jsonl', ROWS);
    const expected: { line: number; dataJson: string }[] = [];
    const skipped: number[] = [];
    lines.forEach((text, i) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
        expected.push({ line: i + 1, dataJson: isStoredForm(value, MESSAGES) ? text.trim() : JSON.stringify(normalise(value, MESSAGES)) });
      } catch {
        skipped.push(i + 1);
      }
    });
    for (const thread of ['inline', 'worker'] as const) {
      const { outcome, rows } = await importOn(thread, { ...base, path: p });
      expect(rows.map((r) => ({ line: r.line, dataJson: r.dataJson }))).toEqual(expected);
      expect(outcome.skippedCount).toBe(skipped.length);
      expect(outcome.skipped.map((s) => s.line)).toEqual(skipped.slice(0, 1000));
      expect(outcome.skipped.find((s) => s.line === 10)?.reason).toBe('empty completion (message 2)');
      expect(outcome.skipped.find((s) => s.line === 8)?.reason).toMatch(/^bad JSON/);
      expect(outcome.skipped.find((s) => s.line === 18)?.reason).toBe('role order: no assistant turn to train on');
    }
  });

  it('surfaces the worker’s errors with the file and line, and keeps nothing', async () => {
    const late = chatFile('late.jsonl', ROWS).path;
    const aborted = await failureOn('worker', { ...base, path: late, onError: 'abort' });
    expect(aborted.err).toBeInstanceOf(ImportAbortedError);
    expect(aborted.err.message).toMatch(/^late\.jsonl line 8: bad JSON/);
    expect(aborted.counts).toEqual({ datasets: 0, versions: 0, rows: 0 });

    const bin = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    const binary = await failureOn('worker', { ...base, path: file(dir, 'random.jsonl', bin) });
    expect(binary.err.message).toMatch(/random\.jsonl: looks like a binary file/);
    expect(binary.err.name).toBe('FileFormatError');
    expect(binary.counts).toEqual({ datasets: 0, versions: 0, rows: 0 });

    const unknown = await failureOn('worker', { ...base, path: file(dir, 'odd.jsonl', '{"foo": 1}\n') });
    expect(unknown.err.message).toMatch(/odd\.jsonl line 1: cannot tell the dataset's shape.*keys found: foo/);
    expect(unknown.counts).toEqual({ datasets: 0, versions: 0, rows: 0 });

    // The same messages as reading here.
    for (const req of [{ ...base, path: late, onError: 'abort' as const }, { ...base, path: file(dir, 'odd2.jsonl', '{"foo": 1}\n') }]) {
      expect((await failureOn('worker', req)).err.message).toBe((await failureOn('inline', req)).err.message);
    }
  });

  it('cancel while the worker reads leaves nothing behind', async () => {
    const { path: p } = chatFile('cancel.jsonl', ROWS);
    const { db, repo } = memoryRepo();
    const controller = new AbortController();
    let rowsAtCancel = 0;
    const err = await importDataset(repo, { ...base, path: p }, {
      thread: 'worker',
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'reading' && !controller.signal.aborted && counts(db).rows > 0) {
          rowsAtCancel = counts(db).rows;
          controller.abort();
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportCancelledError);
    expect(rowsAtCancel).toBeGreaterThan(0);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('cancel while hashing, with the worker already reading, leaves nothing behind', async () => {
    const { path: p } = chatFile('cancel-hash.jsonl', ROWS);
    const { db, repo } = memoryRepo();
    const controller = new AbortController();
    const err = await importDataset(repo, { ...base, path: p }, {
      thread: 'worker',
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'hashing') controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportCancelledError);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('a duplicate is found by its hash and returned; the worker stops without importing', async () => {
    const { path: p } = chatFile('dup.jsonl', ROWS);
    const { db, repo } = memoryRepo();
    const first = await importDataset(repo, { ...base, path: p, onDuplicate: 'existing' }, { thread: 'worker' });
    const before = counts(db);
    const again = await importDataset(repo, { ...base, path: p, onDuplicate: 'existing' }, { thread: 'worker' });
    expect(again).toMatchObject({ reused: true, versionId: first.versionId, duplicateOf: { datasetId: first.datasetId, version: 1 } });
    expect(counts(db)).toEqual(before);
  });

  it('holds back while its batches are not taken, and stops mid-file on close', async () => {
    const { path: p } = chatFile('stop.jsonl', ROWS);
    const source = resolveSource(p);
    const rows = openRowSource(source.files, { textUnit: 'block', onError: 'skip', folder: false, keepSkipped: 1000 }, { thread: 'worker', totalBytes: source.files[0].size });
    expect(rows.threaded).toBe(true);
    const it = rows[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // Not taking more for a while: the worker fills what it may, then waits.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(rows.queued).toBe(IN_FLIGHT - 1); // the batch taken is the one still out
    let taken = 1;
    while (taken < 4 && !(await it.next()).done) taken++;
    expect(taken).toBe(4);
    expect(ROWS / BATCH_ROWS).toBeGreaterThan(IN_FLIGHT + 4); // so the file was not read to its end
    await rows.close();
    // Closed: the stream ends; close waited for the worker to exit.
    await expect(it.next()).resolves.toMatchObject({ done: true });
  });
});
