import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parquetWriteFile } from 'hyparquet-writer';
import { readJsonl } from '../../../src/main/datasets/readers/jsonl';
import { readJson, sniffJson } from '../../../src/main/datasets/readers/json';
import { readCsv } from '../../../src/main/datasets/readers/csv';
import { readParquet } from '../../../src/main/datasets/readers/parquet';
import { readTextBlocks, readTextFile } from '../../../src/main/datasets/readers/text';
import { FileFormatError, resolveSource } from '../../../src/main/datasets/readers';
import { CHUNK_BYTES } from '../../../src/main/datasets/readers/source';
import { file, readAll, tempDir } from './helpers';

const dir = tempDir();

describe('JSON Lines', () => {
  it('reads CRLF lines after a byte-order mark, skipping blank lines but counting them', async () => {
    const p = file(dir, 'a.jsonl', '\uFEFF{"a":1}\r\n\r\n  \n{"a": 2}\r\n');
    expect(await readAll(readJsonl(p), true)).toEqual([
      { line: 1, value: { a: 1 }, text: '{"a":1}' },
      { line: 4, value: { a: 2 }, text: '{"a": 2}' },
    ]);
  });

  it('keeps non-Latin text, emoji, nulls and nested arrays as written', async () => {
    const rows = [{ t: 'Привет, 世界 🌍👩‍👩‍👧', n: null, deep: [[1, [2, [3]]], { x: ['y'] }] }, { t: 'مرحبا' }];
    const p = file(dir, 'b.jsonl', rows.map((r) => JSON.stringify(r)).join('\n'));
    expect((await readAll(readJsonl(p))).map((r) => r.value)).toEqual(rows);
  });

  it('reports bad JSON, trailing commas and invalid UTF-8 by line, and reads on', async () => {
    const p = file(dir, 'c.jsonl', Buffer.concat([Buffer.from('{"a":1}\n{oops}\n{"a":2},\n{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"a":3}\n')]));
    const recs = await readAll(readJsonl(p));
    expect(recs.map((r) => r.line)).toEqual([1, 2, 3, 4, 5]);
    expect(recs[1].error).toMatch(/^bad JSON: /);
    expect(recs[2].error).toMatch(/trailing comma/);
    expect(recs[3].error).toBe('invalid UTF-8');
    expect(recs[4].value).toEqual({ a: 3 });
  });

  it('says a last line without newline that does not parse may be a cut-short file', async () => {
    const p = file(dir, 'd.jsonl', '{"a":1}\n{"a":2}\n{"a": "unfinis');
    const recs = await readAll(readJsonl(p));
    expect(recs).toHaveLength(3);
    expect(recs[2]).toMatchObject({ line: 3 });
    expect(recs[2].error).toMatch(/file may be cut short/);
  });

  it('reads lines longer than a read chunk, and lines spanning chunk borders', async () => {
    const long = 'x'.repeat(CHUNK_BYTES * 2 + 123);
    const lines = [{ s: 'short' }, { s: long }, { s: 'é'.repeat(CHUNK_BYTES / 3) }, { s: 'end' }];
    const p = file(dir, 'e.jsonl', lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const recs = await readAll(readJsonl(p));
    expect(recs.map((r) => r.line)).toEqual([1, 2, 3, 4]);
    expect(recs.map((r) => (r.value as { s: string }).s.length)).toEqual(lines.map((l) => l.s.length));
  });

  it('refuses binary, UTF-16 and gzip files with the reason', async () => {
    const bin = file(dir, 'bin.jsonl', Buffer.from([0x7b, 0x00, 0x01, 0x02, 0xff]));
    await expect(readAll(readJsonl(bin))).rejects.toThrow(/bin\.jsonl: looks like a binary file \(NUL byte at byte 1\)/);
    const utf16 = file(dir, 'u16.jsonl', Buffer.from('\uFEFF{"a":1}', 'utf16le'));
    await expect(readAll(readJsonl(utf16))).rejects.toThrow(/UTF-16/);
    const gz = file(dir, 'z.jsonl', zlib.gzipSync('{"a":1}\n'));
    await expect(readAll(readJsonl(gz))).rejects.toThrow(/gzip/);
  });

  it('yields nothing for an empty file', async () => {
    expect(await readAll(readJsonl(file(dir, 'empty.jsonl', '')))).toEqual([]);
  });
});

describe('JSON', () => {
  it('reads a top-level list, with the line each record starts on, and accepts a trailing comma after the last one', async () => {
    const p = file(dir, 'a.json', '[\n  {"a": 1,\n   "b": [1, {"c": "]},"}]},\n  {"a": 2},\n]\n');
    expect(await readAll(readJson(p))).toEqual([
      { line: 2, value: { a: 1, b: [1, { c: ']},' }] } },
      { line: 4, value: { a: 2 } },
    ]);
  });

  it('finds the list of records inside an object, skipping other keys', async () => {
    const p = file(dir, 'b.json', '{"version": "1.0", "tags": ["x", "y"], "empty": [], "data": [{"q": "a"}, {"q": "b"}], "after": {"k": [1]}}');
    expect((await readAll(readJson(p))).map((r) => r.value)).toEqual([{ q: 'a' }, { q: 'b' }]);
    const named = file(dir, 'c.json', '{"train": [{"q": 1}], "test": [{"q": 2}]}');
    expect((await readAll(readJson(named, { field: 'test' }))).map((r) => r.value)).toEqual([{ q: 2 }]);
  });

  it('reports a bad record and a trailing comma inside a record, and reads on', async () => {
    const p = file(dir, 'd.json', '[{"a": 1}, {"a": 2,}, {a: 3}, {"a": 4}]');
    const recs = await readAll(readJson(p));
    expect(recs.map((r) => r.value ?? r.error)).toEqual([{ a: 1 }, expect.stringMatching(/trailing comma/), expect.stringMatching(/^bad JSON/), { a: 4 }]);
  });

  it('reports a truncated list as a record cut short', async () => {
    const p = file(dir, 'e.json', '[\n{"a": 1},\n{"a": 2, "b": "cut');
    const recs = await readAll(readJson(p));
    expect(recs[0].value).toEqual({ a: 1 });
    expect(recs[1]).toEqual({ line: 3, error: 'truncated: the file ends before this record is complete' });
  });

  it('explains an object without a list and text after the document', async () => {
    await expect(readAll(readJson(file(dir, 'f.json', '{"a": 1, "b": "x"}')))).rejects.toThrow(/holds no list of records \(keys found: a, b\)/);
    await expect(readAll(readJson(file(dir, 'g.json', '[{"a": 1}] [')))).rejects.toThrow(/unexpected text after the end/);
    await expect(readAll(readJson(file(dir, 'h.json', 'hello')))).rejects.toThrow(/not a JSON list or object/);
  });

  it('streams a list larger than a read chunk', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ i, s: `row ${i} ${'·'.repeat(600)}` }));
    const p = file(dir, 'big.json', JSON.stringify(rows, null, 1));
    expect(fs.statSync(p).size).toBeGreaterThan(CHUNK_BYTES);
    const recs = await readAll(readJson(p));
    expect(recs.map((r) => r.value)).toEqual(rows);
  });

  it('tells a list, one record and JSON Lines apart', async () => {
    const isRecord = (v: unknown) => typeof v === 'object' && v !== null && 'messages' in v;
    expect(await sniffJson(file(dir, 's1.json', '[{"a":1}]'), isRecord)).toBe('list');
    expect(await sniffJson(file(dir, 's2.json', '{"messages": [{"role": "user", "content": "x"}]}'), isRecord)).toBe('single-record');
    expect(await sniffJson(file(dir, 's3.json', '{"data": [{"a": 1}]}'), isRecord)).toBe('list');
    expect(await sniffJson(file(dir, 's4.json', '{"a": 1}\n{"a": 2}\n'), isRecord)).toBe('jsonl');
  });
});

describe('CSV and TSV', () => {
  it('follows RFC 4180: quotes, doubled quotes, delimiters and newlines in quotes, CRLF, BOM', async () => {
    const p = file(dir, 'a.csv', '\uFEFFprompt,completion\r\n"a, b","say ""hi"""\r\n"two\r\nlines",x\r\nplain,"end"\r\n');
    expect(await readAll(readCsv(p, ','))).toEqual([
      { line: 2, value: { prompt: 'a, b', completion: 'say "hi"' } },
      { line: 3, value: { prompt: 'two\r\nlines', completion: 'x' } },
      { line: 5, value: { prompt: 'plain', completion: 'end' } },
    ]);
  });

  it('reports rows with the wrong number of fields, text after a closing quote, invalid UTF-8', async () => {
    const p = file(dir, 'b.csv', Buffer.concat([Buffer.from('a,b\n1,2,3\n"x"y,z\n\n'), Buffer.from([0x66, 0xff, 0x2c, 0x67, 0x0a]), Buffer.from('ok,fine')]));
    expect(await readAll(readCsv(p, ','))).toEqual([
      { line: 2, error: 'expected 2 fields (as in the header), found 3' },
      { line: 3, error: 'malformed CSV: text after a closing quote in field 1' },
      { line: 5, error: 'invalid UTF-8' },
      { line: 6, value: { a: 'ok', b: 'fine' } },
    ]);
  });

  it('reports a file that ends inside a quoted field', async () => {
    const recs = await readAll(readCsv(file(dir, 'c.csv', 'a,b\n1,2\n"open,3\n4,5\n'), ','));
    expect(recs).toEqual([
      { line: 2, value: { a: '1', b: '2' } },
      { line: 3, error: 'truncated: the file ends inside a quoted field' },
    ]);
  });

  it('reads TSV, keeping quotes inside unquoted fields', async () => {
    const recs = await readAll(readCsv(file(dir, 'd.tsv', 'question\tanswer\nWho wrote "Emma"?\tJane Austen\n"tab\there"\tok\n'), '\t'));
    expect(recs.map((r) => r.value)).toEqual([
      { question: 'Who wrote "Emma"?', answer: 'Jane Austen' },
      { question: 'tab\there', answer: 'ok' },
    ]);
  });

  it('refuses duplicate header names and a file with no header', async () => {
    await expect(readAll(readCsv(file(dir, 'e.csv', 'a,a\n1,2\n'), ','))).rejects.toThrow(/names the column "a" twice/);
    await expect(readAll(readCsv(file(dir, 'f.csv', '\n\n'), ','))).rejects.toThrow(/no header row/);
  });
});

describe('Parquet', () => {
  const schema = [
    { name: 'root', num_children: 2 },
    { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'id', type: 'INT64', repetition_type: 'OPTIONAL' },
  ];
  const messages = Array.from({ length: 2500 }, (_, i) => [
    { role: 'user', content: `question ${i} ✓` },
    { role: 'assistant', content: `answer ${i}` },
  ]);
  const ids = messages.map((_, i) => BigInt(i));

  for (const codec of ['SNAPPY', 'GZIP'] as const) {
    it(`reads a list<struct> column and int64s (${codec}, several row groups)`, async () => {
      const p = path.join(dir, `chat-${codec}.parquet`);
      parquetWriteFile({
        filename: p,
        columnData: [
          { name: 'messages', data: messages },
          { name: 'id', data: ids },
        ],
        schema: schema as never,
        codec,
        compressors: { GZIP: (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b)) },
        rowGroupSize: 1000,
      });
      const recs = await readAll(readParquet(p));
      expect(recs).toHaveLength(2500);
      expect(recs[0]).toEqual({ line: 1, value: { messages: messages[0], id: 0 } });
      expect(recs[2499]).toEqual({ line: 2500, value: { messages: messages[2499], id: 2499 } });
    });
  }

  it('refuses a file that is not Parquet', async () => {
    await expect(readAll(readParquet(file(dir, 'bad.parquet', 'PAR1 this is not parquet PAR1')))).rejects.toThrow(/bad\.parquet: not a readable Parquet file/);
  });
});

describe('plain text', () => {
  it('cuts blocks at blank lines and keeps the line each starts on', async () => {
    const p = file(dir, 'a.txt', 'First para\r\nstill first.\r\n\r\n\r\nSecond 🌱.\n   \nThird\n');
    expect(await readAll(readTextBlocks(p))).toEqual([
      { line: 1, value: { text: 'First para\nstill first.' } },
      { line: 5, value: { text: 'Second 🌱.' } },
      { line: 7, value: { text: 'Third' } },
    ]);
  });

  it('reads a whole file as one example', async () => {
    const p = file(dir, 'b.md', '# Title\r\n\r\nBody.\r\n');
    expect(await readAll(readTextFile(p))).toEqual([{ line: 1, value: { text: '# Title\n\nBody.\n' } }]);
  });
});

describe('sources', () => {
  it('takes the container from the extension, else from the first bytes, and explains when it cannot', () => {
    expect(resolveSource(file(dir, 'x.ndjson', '{}')).files[0].container).toBe('jsonl');
    expect(resolveSource(file(dir, 'x.data', ' [{"a":1}]')).files[0].container).toBe('json');
    expect(() => resolveSource(file(dir, 'x.bin', 'hello'))).toThrow(FileFormatError);
    expect(() => resolveSource(path.join(dir, 'missing.jsonl'))).toThrow(/no such file or folder/);
  });

  it('lists a folder recursively in name order, leaving out hidden and unknown files', () => {
    const root = path.join(dir, 'folder');
    fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
    for (const f of ['b.jsonl', 'a.csv', 'sub/c.txt', '.hidden.jsonl', 'notes.pdf']) fs.writeFileSync(path.join(root, f), 'x');
    const s = resolveSource(root);
    expect(s.files.map((f) => [f.rel, f.container])).toEqual([
      ['a.csv', 'csv'],
      ['b.jsonl', 'jsonl'],
      [path.join('sub', 'c.txt'), 'text'],
    ]);
    expect(s.ignored).toEqual(['notes.pdf']);
  });
});
