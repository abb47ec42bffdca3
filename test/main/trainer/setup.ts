/** A temp data dir with the tiny-random-llama model and a small conversation dataset. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../../src/main/engine';
import { ModelsService } from '../../../src/main/services/models';
import { createDatasetsRepo } from '../../../src/main/storage/repos/datasets';

export const TINY_LLAMA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures/models/tiny-random-llama');

export function tempEngine(): Engine {
  return Engine.open({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'runs-test-')), shell: 'cli' });
}

/** Adds a dataset version of `n` rows (reversed short word lists) straight through the repo. */
export function addDataset(engine: Engine, name: string, n: number, evalRows = 0): number {
  const repo = createDatasetsRepo(engine.db);
  const id = repo.createDataset({ name, sourcePath: null, format: 'jsonl', shape: 'messages', mapping: null });
  const v = repo.startVersion({ datasetId: id, contentHash: `hash-${name}`, splitSeed: 0, evalFraction: 0, sourcePath: '/dev/null', sizeBytes: 0, importInfo: {}, requestKey: name });
  const words = ['cat', 'dog', 'sun', 'moon', 'tree', 'fish', 'bird', 'cake'];
  const rows = Array.from({ length: n }, (_, i) => {
    const list = [words[i % 8], words[(i * 3 + 1) % 8], words[(i * 5 + 2) % 8]];
    const example = { messages: [{ role: 'user', content: `reverse: ${list.join(' ')}` }, { role: 'assistant', content: [...list].reverse().join(' ') }] };
    return { idx: i, line: i + 1, split: (i < evalRows ? 'eval' : 'train') as 'train' | 'eval', dataJson: JSON.stringify(example) };
  });
  repo.insertRows(v.id, rows);
  repo.finishVersion(v.id, { rowCount: n, skipped: [], skippedCount: 0, importInfo: {} });
  return id;
}

export function addTinyLlama(engine: Engine): number {
  return new ModelsService(engine).add(TINY_LLAMA, 'tiny-random-llama').id;
}
