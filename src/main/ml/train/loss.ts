/**
 * The causal-LM loss of a batch: Σ over trained positions of cross-entropy(logits[t−1], id[t]).
 * Summed (not averaged) so that gradient accumulation can divide by the trained tokens of the
 * whole accumulated batch — every trained token weighs the same however the batch was split.
 */
import * as tf from '@tensorflow/tfjs';
import type { Scalar } from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import { ops } from '../ops';
import type { Batch } from './batches';

export function batchLossSum(model: CausalLM, batch: Batch): Scalar {
  return tf.tidy(() => {
    const logits = model.forward(batch.inputIds, { attentionMask: batch.attentionMask }); // [B, T, V]
    const [B, T, V] = logits.shape as number[];
    const predicting = logits.slice([0, 0, 0], [B, T - 1, V]).reshape([B * (T - 1), V]); // [B·(T−1), V]
    return ops().crossEntropy(predicting, batch.targets, batch.lossWeights);
  });
}
