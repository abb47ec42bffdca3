import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ImportAbortedError,
  ImportCancelledError,
  importDataset,
  sweepAbandonedImports,
  type ImportRequest,
} from '../../../src/main/datasets/importer';
import { evalCount, evalIndices } from '../../../src/main/datasets/split';
import { counts, examples, file, memoryRepo, tempDir } from './helpers';

const dir = tempDir();
const base: Omit<ImportRequest, 'path'> = { onError: 'skip', evalFraction: 0, seed: 0, onDuplicate: 'existing' };
const rowsOf = (repo: ReturnType<typeof memoryRepo>['repo'], versionId: number) =>
  repo.rows(versionId, { offset: 0, limit: 1e6 }).map((r) => JSON.parse(r.dataJson) as unknown);

describe('importing the example files', () => {
  const cases: [string, string, string, number][] = [
    ['alpaca.jsonl', 'jsonl', 'alpaca', 8],
    ['sharegpt.json', 'json', 'sharegpt', 4],
    ['messages.jsonl', 'jsonl', 'messages', 6],
    ['chat.parquet', 'parquet', 'messages', 6],
    ['prompt-completion.csv', 'csv', 'prompt-completion', 5],
    ['qa.tsv', 'tsv', 'prompt-completion', 4],
    ['notes.txt', 'text', 'text', 3],
    ['guide.md', 'text', 'text', 6],
  ];
  for (const [name, format, shape, rows] of cases) {
    it(`${name}: ${format}, ${shape}, ${rows} rows`, async () => {
      const { repo } = memoryRepo();
      const r = await importDataset(repo, { ...base, path: path.join(examples, name) });
      expect({ format: r.format, shape: r.shape, rows: r.rows, skipped: r.skippedCount }).toEqual({ format, shape, rows, skipped: 0 });
      expect(repo.list().map((d) => d.name)).toEqual([name.replace(/\.[^.]+$/, '')]);
    });
  }

  it('stores conversations and texts normalised, close to what the file had', async () => {
    const { repo } = memoryRepo();
    const sg = await importDataset(repo, { ...base, path: path.join(examples, 'sharegpt.json') });
    expect(rowsOf(repo, sg.versionId)[3]).toEqual({
      messages: [
        { role: 'user', content: 'Say hello in Japanese.' },
        { role: 'assistant', content: 'こんにちは (konnichiwa) 👋' },
      ],
    });
    const csv = await importDataset(repo, { ...base, path: path.join(examples, 'prompt-completion.csv') });
    expect(rowsOf(repo, csv.versionId)[2]).toEqual({
      messages: [
        { role: 'user', content: 'Quote the word "hello".' },
        { role: 'assistant', content: '"hello"' },
      ],
    });
    expect(repo.rows(csv.versionId, { offset: 0, limit: 10 }).map((r) => r.line)).toEqual([2, 3, 4, 5, 7]);
  });

  it('keeps a line already in stored form as written; rewrites the others', async () => {
    const { repo } = memoryRepo();
    const asIs = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}';
    const extra = '{"messages": [{"role": "user", "content": "q", "name": "x"}, {"role": "gpt", "content": "a"}]}';
    const r = await importDataset(repo, { ...base, path: file(dir, 'asis.jsonl', `${asIs}\r\n${extra}\n`) });
    expect(repo.rows(r.versionId, { offset: 0, limit: 5 }).map((x) => x.dataJson)).toEqual([
      asIs,
      '{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}',
    ]);
  });

  it('reports every bad line of the malformed example with its reason', async () => {
    const { repo } = memoryRepo();
    const r = await importDataset(repo, { ...base, path: path.join(examples, 'malformed.jsonl') });
    expect(r.rows).toBe(2);
    expect(r.skipped.map((s) => [s.line, s.reason.replace(/:.*$/, '')])).toEqual([
      [2, 'bad JSON'],
      [3, 'missing field "output"'],
      [4, 'wrong type'],
      [5, 'empty completion (message 2)'],
      [6, 'bad JSON'],
      [7, 'invalid UTF-8'],
      [8, 'wrong type'],
    ]);
    expect(r.skipped[4].reason).toMatch(/trailing comma/);
  });

  it('imports a folder of mixed files with a file on every skipped line', async () => {
    const folder = path.join(dir, 'mixed');
    fs.mkdirSync(folder);
    fs.copyFileSync(path.join(examples, 'alpaca.jsonl'), path.join(folder, 'a.jsonl'));
    fs.copyFileSync(path.join(examples, 'notes.txt'), path.join(folder, 'b.txt'));
    fs.copyFileSync(path.join(examples, 'malformed.jsonl'), path.join(folder, 'c.jsonl'));
    const { repo } = memoryRepo();
    const r = await importDataset(repo, { ...base, path: folder });
    expect(r.format).toBe('folder');
    expect(r.shape).toBe('mixed');
    expect(r.files.map((f) => [f.file, f.shape, f.rows, f.skipped])).toEqual([
      ['a.jsonl', 'alpaca', 8, 0],
      ['b.txt', 'text', 1, 0], // one example per file in a folder
      ['c.jsonl', 'alpaca', 2, 7],
    ]);
    expect(r.skipped[0]).toMatchObject({ file: 'c.jsonl', line: 2 });
  });
});

describe('mapping and shape override', () => {
  it('imports CSV columns under other names through a mapping', async () => {
    const p = file(dir, 'map.csv', 'id,q,a,sys\n1,What?,That.,Be terse.\n');
    const { repo } = memoryRepo();
    const r = await importDataset(repo, { ...base, path: p, mapping: { prompt: 'q', completion: 'a', system: 'sys' } });
    expect(rowsOf(repo, r.versionId)).toEqual([
      {
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'user', content: 'What?' },
          { role: 'assistant', content: 'That.' },
        ],
      },
    ]);
  });

  it('refuses an unknown shape, listing the shapes and the keys, and writes nothing', async () => {
    const { db, repo } = memoryRepo();
    const p = file(dir, 'unknown.jsonl', '{"foo": 1, "bar": "x"}\n');
    await expect(importDataset(repo, { ...base, path: p })).rejects.toThrow(/unknown\.jsonl line 1: cannot tell the dataset's shape: keys found: foo, bar\. Shapes understood: alpaca/);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('with a forced shape, rows lacking its fields are reported', async () => {
    const { repo } = memoryRepo();
    const p = file(dir, 'forced.jsonl', '{"text": "a"}\n{"prompt": "p", "completion": "c"}\n');
    const r = await importDataset(repo, { ...base, path: p, shape: 'text' });
    expect(r.rows).toBe(1);
    expect(r.skipped).toEqual([{ line: 2, reason: 'missing field "text"' }]);
  });
});

describe('skip, abort, errors', () => {
  const mixed = () => file(dir, 'mixed.jsonl', '{"text": "ok 1"}\n{"text": {"a": 1}}\n{"text": 5}\n{"text": ""}\n{"text": "ok 2"}\n');

  it('skip keeps the good rows and reports the others', async () => {
    const { repo } = memoryRepo();
    const r = await importDataset(repo, { ...base, path: mixed() });
    expect(r.rows).toBe(3); // a number is read as its text
    expect(r.skipped).toEqual([
      { line: 2, reason: 'wrong type: "text" is an object, expected text' },
      { line: 4, reason: 'empty text' },
    ]);
  });

  it('abort stops at the first bad line and writes nothing', async () => {
    const { db, repo } = memoryRepo();
    const err = await importDataset(repo, { ...base, path: mixed(), onError: 'abort' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportAbortedError);
    expect((err as Error).message).toMatch(/^mixed\.jsonl line 2: wrong type: "text" is an object, expected text\. Nothing was imported/);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('abort on a late bad line in a big file also leaves nothing (rows already written are removed)', async () => {
    const { db, repo } = memoryRepo();
    const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ text: `row ${i}` }));
    lines.push('{"text": ');
    const p = file(dir, 'late.jsonl', lines.join('\n') + '\n');
    await expect(importDataset(repo, { ...base, path: p, onError: 'abort' })).rejects.toThrow(/line 20001: bad JSON/);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('refuses an empty file, a binary file, and a file of only bad lines', async () => {
    const { db, repo } = memoryRepo();
    await expect(importDataset(repo, { ...base, path: file(dir, 'empty.jsonl', '') })).rejects.toThrow(/empty\.jsonl: the file is empty/);
    await expect(importDataset(repo, { ...base, path: file(dir, 'blank.jsonl', '\n\n') })).rejects.toThrow(/no records found/);
    const bin = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    await expect(importDataset(repo, { ...base, path: file(dir, 'random.jsonl', bin) })).rejects.toThrow(/looks like a binary file/);
    await expect(importDataset(repo, { ...base, path: file(dir, 'bad.jsonl', '{x}\n{y}\n') })).rejects.toThrow(
      /no examples could be imported; 2 line\(s\) skipped, the first at line 1: bad JSON/,
    );
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });

  it('imports a truncated file up to the cut, reporting the cut record', async () => {
    const { repo } = memoryRepo();
    const json = file(dir, 'cut.json', '[{"text": "a"}, {"text": "b"}, {"text": "c');
    const r = await importDataset(repo, { ...base, path: json });
    expect(r.rows).toBe(2);
    expect(r.skipped).toEqual([{ line: 1, reason: 'truncated: the file ends before this record is complete' }]);
  });
});

describe('big files, progress and cancel', () => {
  const bigFile = (rows: number, name: string) => {
    const lines: string[] = [];
    for (let i = 0; i < rows; i++) {
      lines.push(JSON.stringify({ instruction: `Reverse the words: w${i} x${i} y${i}`, input: i % 3 ? '' : `context ${i}`, output: `y${i} x${i} w${i}` }));
    }
    return file(dir, name, lines.join('\n') + '\n');
  };

  it('imports 10k rows with progress, in order, with an exact seeded split', async () => {
    const { repo } = memoryRepo();
    const p = bigFile(10_000, 'ten-k.jsonl');
    const phases: string[] = [];
    let lastBytes = 0;
    const r = await importDataset(repo, { ...base, path: p, evalFraction: 0.1, seed: 7 }, {
      onProgress: (e) => {
        phases.push(e.phase);
        expect(e.bytes).toBeGreaterThanOrEqual(lastBytes);
        lastBytes = e.bytes;
      },
    });
    expect(r.rows).toBe(10_000);
    expect([r.train, r.eval]).toEqual([9000, 1000]);
    expect(phases[0]).toBe('hashing');
    expect(phases.at(-1)).toBe('done');
    expect(phases).toContain('reading');
    const page = repo.rows(r.versionId, { offset: 9998, limit: 5 });
    expect(page.map((x) => x.line)).toEqual([9999, 10000]);
    const evalIdx = repo.rows(r.versionId, { offset: 0, limit: 5, split: 'eval' }).map((x) => x.idx);
    expect(evalIdx).toEqual([...evalIndices(10_000, 0.1, 7)].slice(0, 5));
  });

  it('cancel mid-import leaves no dataset, version or row', async () => {
    const { db, repo } = memoryRepo();
    const p = bigFile(60_000, 'cancel.jsonl');
    const controller = new AbortController();
    let rowsAtCancel = 0;
    const err = await importDataset(repo, { ...base, path: p }, {
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

  it('sweeps a version left "importing" by a process that is gone', () => {
    const { db, repo } = memoryRepo();
    const datasetId = repo.createDataset({ name: 'x', sourcePath: null, format: 'jsonl', shape: 'text', mapping: null });
    const v = repo.startVersion({ datasetId, contentHash: 'h', splitSeed: 0, evalFraction: 0, sourcePath: '/x', sizeBytes: 1, importInfo: {}, requestKey: '' });
    repo.insertRows(v.id, [{ idx: 0, line: 1, split: 'train', dataJson: '{"text":"a"}' }]);
    expect(repo.list()).toEqual([]); // invisible while importing
    expect(sweepAbandonedImports(repo, new Set([v.id]))).toBe(0); // still ours
    db.prepare('UPDATE dataset_versions SET import_pid = 2147483646').run();
    expect(sweepAbandonedImports(repo, new Set())).toBe(1);
    expect(counts(db)).toEqual({ datasets: 0, versions: 0, rows: 0 });
  });
});

describe('re-import and versions', () => {
  it('detects the same bytes: returns the existing version, or makes a new version or dataset when asked', async () => {
    const { db, repo } = memoryRepo();
    const p = path.join(examples, 'messages.jsonl');
    const first = await importDataset(repo, { ...base, path: p });
    const again = await importDataset(repo, { ...base, path: p });
    expect(again).toMatchObject({ reused: true, datasetId: first.datasetId, versionId: first.versionId, duplicateOf: { datasetId: first.datasetId, version: 1 } });
    expect(counts(db).rows).toBe(6);

    const v2 = await importDataset(repo, { ...base, path: p, onDuplicate: 'new-version' });
    expect(v2).toMatchObject({ reused: false, datasetId: first.datasetId, version: 2, duplicateOf: { version: 1 } });
    const other = await importDataset(repo, { ...base, path: p, onDuplicate: 'new-dataset' });
    expect(other.datasetId).not.toBe(first.datasetId);
    expect(repo.versions(first.datasetId).map((v) => v.version)).toEqual([1, 2]);
    expect(counts(db).rows).toBe(18);
  });

  it('a different request (mapping, shape) on the same bytes is not a duplicate', async () => {
    const { repo } = memoryRepo();
    const p = file(dir, 'dual.jsonl', '{"text": "t", "prompt": "p", "completion": "c"}\n');
    const a = await importDataset(repo, { ...base, path: p });
    const b = await importDataset(repo, { ...base, path: p, shape: 'text' });
    expect(a.shape).toBe('prompt-completion');
    expect(b).toMatchObject({ reused: false, shape: 'text' });
  });

  it('imports a changed file as the next version of a chosen dataset', async () => {
    const { repo } = memoryRepo();
    const p1 = file(dir, 'v.jsonl', '{"text": "one"}\n');
    const a = await importDataset(repo, { ...base, path: p1 });
    const p2 = file(dir, 'v.jsonl', '{"text": "one"}\n{"text": "two"}\n');
    const b = await importDataset(repo, { ...base, path: p2, datasetId: a.datasetId });
    expect(b).toMatchObject({ datasetId: a.datasetId, version: 2, rows: 2 });
    expect(repo.version(a.datasetId)!.version).toBe(2);
    expect(repo.version(a.datasetId, 1)!.rowCount).toBe(1);
  });
});

describe('split', () => {
  it('is exact, deterministic per seed, and changes without copying rows', async () => {
    expect(evalCount(1000, 0.1)).toBe(100);
    expect(evalCount(5, 0.01)).toBe(1);
    expect(evalCount(1, 0.5)).toBe(0);
    expect(evalCount(3, 0.9)).toBe(2);
    const a = [...evalIndices(1000, 0.1, 1)];
    expect(a).toEqual([...evalIndices(1000, 0.1, 1)]);
    expect(a).not.toEqual([...evalIndices(1000, 0.1, 2)]);
    expect(new Set(a).size).toBe(100);

    const { db, repo } = memoryRepo();
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ text: `t${i}` })).join('\n');
    const r = await importDataset(repo, { ...base, path: file(dir, 'split.jsonl', lines), evalFraction: 0.2, seed: 1 });
    expect(repo.splitCounts(r.versionId)).toEqual({ train: 40, eval: 10 });
    repo.setSplit(r.versionId, { previousEval: evalIndices(50, 0.2, 1), eval: evalIndices(50, 0.5, 3), seed: 3, fraction: 0.5 });
    expect(repo.splitCounts(r.versionId)).toEqual({ train: 25, eval: 25 });
    expect(repo.rows(r.versionId, { offset: 0, limit: 50, split: 'eval' }).map((x) => x.idx)).toEqual([...evalIndices(50, 0.5, 3)]);
    expect(counts(db).rows).toBe(50);
    expect(repo.version(r.datasetId)).toMatchObject({ splitSeed: 3, evalFraction: 0.5 });
  });
});
