/**
 * The trainer's examples: rows of a dataset version rendered with the model's tokenizer and the
 * run's template (src/main/datasets/render.ts: ids + labels mask), truncated to the run's sequence
 * length, split into train and eval. The split is the dataset version's own unless the run asks
 * for a share (`evalSplit`), drawn with the run's seed.
 */
import Database from 'better-sqlite3';
import { renderExample } from '../datasets/render';
import { isTemplateChoice, resolveTemplate } from '../datasets/templates';
import type { Example } from '../datasets/types';
import type { LoadedModelFolder } from '../ml/loader';
import type { TokenizedExample } from '../ml/train/batches';
import { Rng } from '../ml/train/rng';
import { createDatasetsRepo } from '../storage/repos/datasets';
import type { TrainJob } from './protocol';

export interface TrainData {
  train: TokenizedExample[];
  eval: TokenizedExample[];
  /** Rows the template refused, with the reason. */
  skipped: { idx: number; reason: string }[];
}

/** Indices held out for evaluation: ⌊n·fraction⌋ (at least 1 when fraction > 0 and n ≥ 2), seeded. */
export function evalIndexSet(n: number, fraction: number, seed: number): Set<number> {
  if (!(fraction > 0) || n < 2) return new Set();
  const count = Math.min(n - 1, Math.max(1, Math.floor(n * fraction)));
  return new Set(Rng.fromSeed(seed, 3).shuffle([...Array(n).keys()]).slice(0, count));
}

export function loadTrainData(job: TrainJob, folder: LoadedModelFolder): TrainData {
  const seqLen = job.config.seqLen;
  if (job.data.kind === 'tokenized') {
    const cut = (e: TokenizedExample) => ({ ids: e.ids.slice(0, seqLen), trainMask: e.trainMask.slice(0, seqLen) });
    return { train: job.data.train.map(cut), eval: job.data.eval.map(cut), skipped: [] };
  }
  const choice = job.data.template ?? 'model';
  if (!isTemplateChoice(choice)) throw new Error(`unknown template "${choice}" (model, chatml, alpaca, plain)`);
  const template = resolveTemplate(folder.tokenizer, choice);
  const db = new Database(job.data.dbPath, { readonly: true, fileMustExist: true });
  try {
    const repo = createDatasetsRepo(db);
    const rows = [...repo.iterateRows(job.data.versionId)];
    const held = job.config.evalSplit !== undefined ? evalIndexSet(rows.length, job.config.evalSplit, job.config.seed) : null;
    const out: TrainData = { train: [], eval: [], skipped: [] };
    rows.forEach((row, i) => {
      let rendered;
      try {
        rendered = renderExample(JSON.parse(row.dataJson) as Example, { tokenizer: folder.tokenizer, template, maxLength: seqLen });
      } catch (err) {
        out.skipped.push({ idx: row.idx, reason: (err as Error).message });
        return;
      }
      const ex: TokenizedExample = { ids: rendered.ids, trainMask: rendered.labelsMask };
      const isEval = held ? held.has(i) : row.split === 'eval';
      (isEval ? out.eval : out.train).push(ex);
    });
    if (out.train.length === 0) throw new Error(`dataset version ${job.data.versionId} has no training rows the template accepts`);
    return out;
  } finally {
    db.close();
  }
}
