/**
 * Logits of every architecture against the float64 PyTorch reference in test/golden/*.json
 * (made by test/golden/make_goldens.py), to 1e-4, at every position of every prompt.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../../src/main/ml/loader';
import type { CausalLM } from '../../../../src/main/ml/models/causal-lm';
import { GOLDEN_DIR, GOLDEN_MODELS, GPT2_DIR, LLAMA_DIR } from '../helpers';

interface Golden {
  pick_ids: number[];
  cases: { ids: number[]; positions: { head: number[]; picks: number[]; mean: number; std: number; argmax: number }[] }[];
}

const TOL = 1e-4;

function checkAgainstGolden(model: CausalLM, golden: Golden): void {
  for (const c of golden.cases) {
    const logits = tf.tidy(() => model.forward(tf.tensor2d([c.ids], [1, c.ids.length], 'int32')));
    const rows = (logits.arraySync() as number[][][])[0];
    logits.dispose();
    expect(rows.length).toBe(c.ids.length);
    c.positions.forEach((want, t) => {
      const row = rows[t];
      want.head.forEach((v, i) => expect(Math.abs(row[i] - v), `head[${i}] at t=${t}`).toBeLessThan(TOL));
      want.picks.forEach((v, i) => expect(Math.abs(row[golden.pick_ids[i]] - v), `logit ${golden.pick_ids[i]} at t=${t}`).toBeLessThan(TOL));
      const mean = row.reduce((a, b) => a + b, 0) / row.length;
      const std = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length);
      expect(Math.abs(mean - want.mean)).toBeLessThan(TOL);
      expect(Math.abs(std - want.std)).toBeLessThan(TOL);
      expect(row.indexOf(Math.max(...row))).toBe(want.argmax);
    });
  }
}

const CASES: [string, string][] = [
  ['tiny-random-llama', LLAMA_DIR],
  ['tiny-gpt2', GPT2_DIR],
  ['tiny-llama3-gqa', path.join(GOLDEN_MODELS, 'tiny-llama3-gqa')], // GQA, llama3 rope scaling, tied, BF16
  ['tiny-qwen2', path.join(GOLDEN_MODELS, 'tiny-qwen2')], // q/k/v bias, one KV head, F16
  ['tiny-gpt2-old-names', path.join(GOLDEN_MODELS, 'tiny-gpt2-old-names')], // head size 8, no "transformer." prefix, mask buffers
];

describe.each(CASES)('%s logits match the PyTorch reference', (name, dir) => {
  let model: CausalLM;
  beforeAll(() => {
    model = loadModel(dir).model;
  });
  afterAll(() => model.dispose());

  it('at every position, to 1e-4', () => {
    const golden = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, `${name}.json`), 'utf8')) as Golden;
    checkAgainstGolden(model, golden);
  });
});
