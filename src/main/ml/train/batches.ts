/**
 * From tokenized examples to padded batches.
 *
 * An example is its token ids and, per token, whether the loss trains on it (1: a completion
 * token, 0: prompt or template). Each epoch's order is drawn from the run's Rng and grouped by
 * length like transformers' LengthGroupedSampler: shuffle, cut into mega-batches of 50 batches,
 * sort each mega-batch by length, cut into batches, shuffle the batches. Similar lengths share a
 * batch, so little compute goes to padding. The plan (a list of batches of example indices) is
 * kept in checkpoints together with the cursor, so a resumed run sees the same batches.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { Rng } from './rng';

export interface TokenizedExample {
  ids: number[];
  /** Same length as ids: 1 where the token is a training target. */
  trainMask: number[];
}

const MEGA_BATCH_MULT = 50;

/** One epoch's batches (example indices), grouped by length. */
export function planEpoch(lengths: readonly number[], batchSize: number, rng: Rng, groupByLength = true): number[][] {
  const order = rng.shuffle(lengths.map((_, i) => i));
  const batches: number[][] = [];
  if (!groupByLength) {
    for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
    return batches;
  }
  const mega = batchSize * MEGA_BATCH_MULT;
  for (let i = 0; i < order.length; i += mega) {
    const chunk = order.slice(i, i + mega).sort((a, b) => lengths[b] - lengths[a] || a - b);
    for (let j = 0; j < chunk.length; j += batchSize) batches.push(chunk.slice(j, j + batchSize));
  }
  return rng.shuffle(batches);
}

export interface Batch {
  /** [B, T] int32 */
  inputIds: Tensor;
  /** [B, T] int32, 1 = real token */
  attentionMask: Tensor;
  /** [B·(T−1)] int32: the token each position must predict */
  targets: Tensor;
  /** [B·(T−1)] float32: 1 where that prediction counts in the loss */
  lossWeights: Tensor;
  /** Σ lossWeights */
  trainedTokens: number;
  /** real (non-pad) tokens in the batch */
  realTokens: number;
}

/**
 * Right-padded batch of `examples` (already truncated to the run's sequence length). With
 * `completionOnly` false every real token after the first is trained.
 */
export function makeBatch(examples: readonly TokenizedExample[], padId: number, completionOnly: boolean): Batch {
  const B = examples.length;
  const T = Math.max(2, ...examples.map((e) => e.ids.length));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Int32Array(B * T);
  const targets = new Int32Array(B * (T - 1));
  const weights = new Float32Array(B * (T - 1));
  let trained = 0;
  let real = 0;
  examples.forEach((e, b) => {
    const n = e.ids.length;
    real += n;
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = e.ids[t];
      mask[b * T + t] = 1;
    }
    for (let t = 1; t < n; t++) {
      // logits at t−1 predict token t
      targets[b * (T - 1) + t - 1] = e.ids[t];
      const w = completionOnly ? (e.trainMask[t] ? 1 : 0) : 1;
      weights[b * (T - 1) + t - 1] = w;
      trained += w;
    }
  });
  return {
    inputIds: tf.tensor2d(ids, [B, T], 'int32'),
    attentionMask: tf.tensor2d(mask, [B, T], 'int32'),
    targets: tf.tensor1d(targets, 'int32'),
    lossWeights: tf.tensor1d(weights, 'float32'),
    trainedTokens: trained,
    realTokens: real,
  };
}

export function disposeBatch(b: Batch): void {
  b.inputIds.dispose();
  b.attentionMask.dispose();
  b.targets.dispose();
  b.lossWeights.dispose();
}

/** Truncates to `seqLen` tokens (keeping the start: the prompt and the first completion tokens). */
export function truncate(e: TokenizedExample, seqLen: number): TokenizedExample {
  if (e.ids.length <= seqLen) return e;
  return { ids: e.ids.slice(0, seqLen), trainMask: e.trainMask.slice(0, seqLen) };
}
