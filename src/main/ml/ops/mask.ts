/**
 * Attention masks and position ids from a padding mask, built once per forward and shared by
 * every layer. Conventions follow Hugging Face: `attentionMask` is [B, past + T] with 1 for real
 * tokens and 0 for padding (left padding for batched generation); positions count real tokens only.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';

/** Added to a masked score: large enough that exp() is 0, finite so fully masked rows stay finite. */
export const MASKED = -1e9;

/**
 * Additive mask [B, 1, T, Tk] (Tk = past + T): 0 where query t may attend key j (j ≤ past + t and
 * key j is not padding), MASKED elsewhere. Returns null when nothing needs masking (one new token
 * and no padding).
 */
export function additiveAttentionMask(attentionMask: Tensor | undefined, batch: number, T: number, past: number): Tensor | null {
  const Tk = past + T;
  if (attentionMask) checkMaskShape(attentionMask, batch, Tk);
  if (!attentionMask && T === 1) return null;
  return tf.tidy(() => {
    const queryPos = tf.range(past, Tk, 1, 'int32').reshape([T, 1]);
    const keyPos = tf.range(0, Tk, 1, 'int32').reshape([1, Tk]);
    let allowed = tf.lessEqual(keyPos, queryPos).expandDims(0); // causal: [1, T, Tk]
    if (attentionMask) allowed = tf.logicalAnd(allowed, tf.greater(attentionMask, 0).expandDims(1)); // [B, T, Tk]
    const bias = tf.mul(tf.sub(1, allowed.cast('float32')), MASKED);
    return tf.broadcastTo(bias, [batch, T, Tk]).expandDims(1); // [B, 1, T, Tk]
  });
}

/**
 * Position ids [B, T] int32 for the T new tokens: with a padding mask, the count of real tokens
 * before each one (padding positions get 1, as in transformers); without, past .. past+T-1.
 */
export function positionIdsFor(attentionMask: Tensor | undefined, batch: number, T: number, past: number): Tensor {
  return tf.tidy(() => {
    if (!attentionMask) return tf.broadcastTo(tf.range(past, past + T, 1, 'int32').expandDims(0), [batch, T]);
    checkMaskShape(attentionMask, batch, past + T);
    const m = attentionMask.cast('int32');
    const pos = tf.sub(tf.cumsum(m, 1), 1); // [B, Tk]
    const withPads = tf.where(tf.equal(m, 0), tf.onesLike(pos), pos);
    return withPads.slice([0, past], [batch, T]);
  });
}

function checkMaskShape(mask: Tensor, batch: number, Tk: number): void {
  if (mask.rank !== 2 || mask.shape[0] !== batch || mask.shape[1] !== Tk) {
    throw new Error(`attentionMask must be [batch, past + new tokens] = [${batch}, ${Tk}], got [${mask.shape.join(', ')}]`);
  }
}
