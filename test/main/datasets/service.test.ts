import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src/main/cli/index';
import { Engine } from '../../../src/main/engine';
import { createHandlers, dispatchCall, type Handlers } from '../../../src/main/handlers';
import type { CallArgs, CallName, CallResult, ImportProgressEvent } from '../../../src/shared/contract';
import { examples, file, fixtures, tempDir } from './helpers';

const dir = tempDir();
const smolDir = path.join(fixtures, 'peft-adapters/smollm2-360m-instruct-q_v-r8');
let engine: Engine;
let handlers: Handlers;
const call = <K extends CallName>(name: K, args: CallArgs<K>) => dispatchCall(handlers, name, args, { via: 'http' }) as Promise<CallResult<K>>;

beforeAll(() => {
  engine = Engine.open({ dataDir: path.join(dir, 'data'), shell: 'cli' });
  handlers = createHandlers(engine);
});
afterAll(() => engine.close());

describe('datasets through the contract', () => {
  it('inspects a file before import: shape, mapping, keys, samples', async () => {
    const r = await call('datasets.inspect', { path: path.join(examples, 'qa.tsv') });
    expect(r).toMatchObject({ container: 'tsv', shape: 'prompt-completion', keys: ['question', 'answer'], mapping: { prompt: 'question', completion: 'answer' } });
    expect(r.samples[0].example).toEqual({
      messages: [
        { role: 'user', content: 'What is the boiling point of water at sea level?' },
        { role: 'assistant', content: '100 °C (212 °F).' },
      ],
    });
    const unknown = await call('datasets.inspect', { path: file(dir, 'odd.jsonl', '{"foo": 1}\n') });
    expect(unknown.shape).toBeNull();
    expect(unknown.shapeError).toMatch(/keys found: foo/);
  });

  it('imports with progress events, then lists, previews, measures, splits and deletes', async () => {
    const events: ImportProgressEvent[] = [];
    const off = engine.events.on('datasets.importProgress', (e) => events.push(e));
    const r = await call('datasets.import', { path: path.join(examples, 'sharegpt.json'), importId: 'imp-1', evalFraction: 0.25, seed: 1 });
    off();
    expect(r).toMatchObject({ rows: 4, train: 3, eval: 1, shape: 'sharegpt', reused: false });
    expect(events.every((e) => e.importId === 'imp-1')).toBe(true);
    expect(events.at(-1)).toMatchObject({ phase: 'done', datasetId: r.id, rows: 4, etaSeconds: 0 });

    const list = await call('datasets.list', {});
    expect(list.find((d) => d.id === r.id)).toMatchObject({ name: 'sharegpt', latest: { rows: 4, train: 3, eval: 1 } });

    const p = await call('datasets.preview', { id: r.id, limit: 2, model: smolDir, maxLength: 60 });
    expect(p.template).toMatchObject({ name: 'model' });
    expect(p.total).toBe(4);
    const [long, short] = p.rows.map((x) => x.rendered!);
    expect(long).toMatchObject({ truncated: true, tokens: 79 });
    expect(long.pieces).toHaveLength(60);
    expect(short).toMatchObject({ truncated: false, tokens: 46, trainedTokens: 5 });
    expect(short.pieces.filter((x) => x.trained).map((x) => x.text).join('')).toBe('144.<|im_end|>');

    const s = await call('datasets.stats', { id: r.id, model: smolDir, maxLength: 50 });
    expect(s).toMatchObject({ rows: 4, measured: 4, empty: 0, duplicates: 0, templateErrors: 0, histogram: { unit: 'tokens' } });
    expect(s.overLong).toBeGreaterThan(0);
    expect(s.truncatedShare).toBe(s.overLong / 4);
    expect(s.histogram.bins.reduce((n, b) => n + b.count, 0)).toBe(4);

    expect(await call('datasets.split', { id: r.id, evalFraction: 0.5, seed: 2 })).toEqual({ train: 2, eval: 2 });
    expect(await call('datasets.delete', { id: r.id })).toEqual({ deleted: true });
    await expect(call('datasets.get', { id: r.id })).rejects.toMatchObject({ status: 404 });
  });

  it('counts duplicates, empty prompts and template refusals', async () => {
    const lines = [
      { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] },
      { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] },
      { messages: [{ role: 'user', content: ' ' }, { role: 'assistant', content: 'c' }] },
      { messages: [{ role: 'user', content: 'x' }, { role: 'user', content: 'y' }, { role: 'assistant', content: 'z' }] },
    ];
    const r = await call('datasets.import', { path: file(dir, 'dups.jsonl', lines.map((l) => JSON.stringify(l)).join('\n')) });
    const s = await call('datasets.stats', { id: r.id, model: path.join(fixtures, 'models/tiny-random-llama'), template: 'alpaca' });
    expect(s).toMatchObject({ duplicates: 1, empty: 1, templateErrors: 1, measured: 4 });
    expect(s.templateErrorSamples[0]).toMatchObject({ line: 4, reason: expect.stringMatching(/alternate/) });
    const p = await call('datasets.preview', { id: r.id, offset: 3, limit: 1, model: path.join(fixtures, 'models/tiny-random-llama'), template: 'alpaca' });
    expect(p.rows[0].renderError).toMatch(/rejects this conversation/);
  });

  it('cancels a running import by id, leaving nothing', async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `{"text": "row ${i} ${'x'.repeat(40)}"}`).join('\n');
    const p = file(dir, 'long.jsonl', lines);
    const before = (await call('datasets.list', {})).length;
    const seen: string[] = [];
    const off = engine.events.on('datasets.importProgress', (e) => {
      seen.push(e.phase);
      if (e.phase === 'reading' && e.rows > 0) void call('datasets.cancelImport', { importId: 'imp-cancel' });
    });
    await expect(call('datasets.import', { path: p, importId: 'imp-cancel' })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/cancelled/) });
    off();
    expect(seen.at(-1)).toBe('cancelled');
    expect((await call('datasets.list', {})).length).toBe(before);
    expect(engine.db.prepare("SELECT COUNT(*) AS n FROM dataset_versions WHERE status = 'importing'").get()).toEqual({ n: 0 });
    expect(await call('datasets.cancelImport', { importId: 'imp-cancel' })).toEqual({ cancelled: false });
  });

  it('validates arguments at the boundary', async () => {
    await expect(call('datasets.import', { path: '' })).rejects.toMatchObject({ status: 400 });
    await expect(call('datasets.import', { path: 'x', shape: 'nope' as never })).rejects.toMatchObject({ status: 400 });
  });
});

describe('CLI', () => {
  /** `lora-studio --data-dir D ...` in this process (bin/lora-studio.js runs the same main()). */
  async function cli(...args: string[]): Promise<{ status: number; stdout: string }> {
    let stdout = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    });
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const status = await main(['--data-dir', path.join(dir, 'cli-data'), ...args]);
      return { status, stdout };
    } finally {
      spy.mockRestore();
      quiet.mockRestore();
    }
  }

  it('datasets import FILE --json prints {id, rows, skipped}; show marks masked tokens', async () => {
    const r = await cli('datasets', 'import', path.join(examples, 'malformed.jsonl'), '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { id: number; rows: number; skipped: { line: number; reason: string }[] };
    expect(out).toMatchObject({ id: 1, rows: 2 });
    expect(out.skipped.map((s) => s.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);

    const abort = await cli('datasets', 'import', path.join(examples, 'malformed.jsonl'), '--on-error', 'abort', '--json');
    expect(abort.status).toBe(1);
    expect(JSON.parse(abort.stdout).error).toMatch(/malformed\.jsonl line 2: bad JSON/);

    const m = await cli('datasets', 'import', path.join(examples, 'qa.tsv'), '--format', 'prompt-completion', '--map', 'prompt=question,completion=answer', '--eval-split', '0.5', '--json');
    expect(JSON.parse(m.stdout)).toMatchObject({ rows: 4, train: 2, eval: 2, shape: 'prompt-completion' });

    const show = await cli('datasets', 'show', '2', '--rows', '1', '--model', smolDir);
    expect(show.status).toBe(0);
    expect(show.stdout).toContain('⟦<|im_start|>system\n');
    expect(show.stdout).toMatch(/⟧100 °C \(212 °F\)\.<\|im_end\|>⟦/);

    const list = await cli('datasets', 'list');
    expect(list.stdout).toMatch(/malformed\s+jsonl\s+alpaca\s+2/);
    expect((await cli('datasets', 'delete', '1')).stdout).toContain('Deleted dataset 1');
    expect((await cli('datasets', 'import', path.join(examples, 'qa.tsv'), '--map', 'nonsense')).status).toBe(2);
  });
});
