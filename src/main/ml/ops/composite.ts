/**
 * The reference Ops: plain tfjs ops, so every backend runs them and tfjs derives the gradients.
 * Shapes as documented in ./types.ts. Products go through ./matmul.ts: tf.matMul everywhere but on
 * the wasm backend, where it keeps forward and backward on XNNPACK.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradSaveFunc, Scalar, Tensor } from '@tensorflow/tfjs';
import { matMul } from './matmul';
import type { Ops } from './types';

const GELU_C = Math.sqrt(2 / Math.PI);

export const compositeOps: Ops = {
  name: 'composite',

  linear(x, weight, bias) {
    return tf.tidy(() => {
      const [outF, inF] = weight.shape;
      const lead = x.shape.slice(0, -1);
      let y = matMul(x.reshape([-1, inF]), weight, false, true); // [N, out]
      if (bias) y = tf.add(y, bias);
      return y.reshape([...lead, outF]);
    });
  },

  rmsNorm(x, weight, eps) {
    return tf.tidy(() => {
      const meanSq = tf.mean(tf.square(x), -1, true); // [..., 1]
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSq, eps))), weight);
    });
  },

  layerNorm(x, weight, bias, eps) {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true); // [..., 1] each, biased variance like torch
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), weight), bias);
    });
  },

  rope(x, cos, sin) {
    return tf.tidy(() => {
      const hd = x.shape[3] as number;
      const [x1, x2] = tf.split(x, [hd / 2, hd / 2], 3); // [B, nH, T, hd/2] each
      const rotated = tf.concat([tf.neg(x2), x1], 3); // rotate_half(x): [B, nH, T, hd]
      const c = cos.expandDims(1); // [B, 1, T, hd]
      const s = sin.expandDims(1);
      return tf.add(tf.mul(x, c), tf.mul(rotated, s));
    });
  },

  attention(q, k, v, mask, scale) {
    return tf.tidy(() => {
      const [B, nH, T, hd] = q.shape as number[];
      const nKV = k.shape[1] as number;
      const Tk = k.shape[2] as number;
      const groups = nH / nKV;
      // Fold the query heads that share a key/value head into the row axis instead of copying k/v.
      const qg = q.reshape([B, nKV, groups * T, hd]); // heads are kv-major: h = kv * groups + g
      let scores = tf.mul(matMul(qg, k, false, true), scale); // [B, nKV, groups*T, Tk]
      if (mask) {
        scores = tf.add(scores.reshape([B, nKV, groups, T, Tk]), mask.expandDims(1)); // mask [B, 1, 1, T, Tk]
        scores = scores.reshape([B, nKV, groups * T, Tk]);
      }
      const probs = tf.softmax(scores, -1);
      return matMul(probs, v).reshape([B, nH, T, hd]); // [B, nKV, groups*T, hd] → [B, nH, T, hd]
    });
  },

  swiglu(gate, up) {
    return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
  },

  gelu(x) {
    return tf.tidy(() => {
      const inner = tf.mul(GELU_C, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    });
  },

  crossEntropy(logits, targets, weights): Scalar {
    const [N, V] = logits.shape as number[];
    // One op with its gradient written out, dlogits = w·dy·(softmax(logits) − onehot(targets)):
    // tfjs' derivation of logSumExp runs max's gradient (an [N, V] Equal, ~20% of a small wasm
    // step) and keeps exp(logits) alive until the backward pass.
    const loss = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
      const [l, save] = args as [Tensor, GradSaveFunc];
      const t = targets.cast('int32'); // [N]
      // Saved, not closed over: targets and weights made inside the differentiated function are
      // released when its forward pass ends, before the gradient runs.
      save([l, t, weights]);
      const value = tf.tidy(() => {
        const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), t); // i·V + t_i
        const picked = tf.gather(l.reshape([N * V]), flat); // [N], no [N, V] one-hot
        return tf.sum(tf.mul(tf.sub(tf.logSumExp(l, -1), picked), weights)) as Scalar;
      });
      return {
        value,
        gradFunc: (dy: Scalar, saved: Tensor[]) =>
          tf.tidy(() => {
            const [ls, ts, ws] = saved;
            const coef = tf.mul(ws, dy); // [N]
            const probs = tf.softmax(ls, -1); // [N, V]
            const scaled = tf.mul(probs, coef.expandDims(1)); // [N, V]
            probs.dispose(); // [N, V] blocks are the peak of a large-vocabulary step: one fewer alive
            const at = tf.stack([tf.range(0, N, 1, 'int32'), ts], 1); // [N, 2]: (i, t_i)
            // Subtract coef_i at (i, t_i) in place of a dense one-hot (tfjs' gather gradient needs
            // UnsortedSegmentSum, which the wasm backend does not have).
            return tf.tensorScatterUpdate(scaled, at, tf.sub(tf.gatherND(scaled, at), coef));
          }),
      };
    });
    return tf.tidy(() => loss(logits));
  },
};

