/**
 * The reference Ops: plain tfjs ops, so every backend runs them and tfjs derives the gradients.
 * Shapes as documented in ./types.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { Scalar, Tensor } from '@tensorflow/tfjs';
import type { Ops } from './types';

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * a [..., M, K] · b [..., N, K]ᵀ → [..., M, N].
 * tfjs-backend-wasm runs BatchMatMul through XNNPACK only when neither operand is flagged as
 * transposed; with transposeB it falls back to a plain loop, 5-10× slower. There we transpose
 * explicitly — b itself when it is small (attention keys), else the activations around it:
 * a·bᵀ = (b·aᵀ)ᵀ, which never copies a large weight. Other backends take the flag as is.
 */
function matMulTransposeB(a: Tensor, b: Tensor): Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, false, true);
  const outSize = (a.size / (a.shape.at(-1) as number)) * (b.shape.at(-2) as number);
  if (a.rank === 2 && b.rank === 2 && b.size > a.size + outSize) return swapLastAxes(tf.matMul(b, swapLastAxes(a)));
  return tf.matMul(a, swapLastAxes(b));
}

/** [..., M, N] → [..., N, M] */
function swapLastAxes(t: Tensor): Tensor {
  const perm = [...Array(t.rank).keys()];
  [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
  return tf.transpose(t, perm);
}

/**
 * logits [N, V], targets [N] → logits[i, targets[i]], [N], without an [N, V] one-hot in the
 * forward pass. The gradient is a scatter: tfjs' own gather gradient needs UnsortedSegmentSum,
 * which the wasm backend does not have.
 */
function pickTargets(logits: Tensor, targets: Tensor): Tensor {
  const [N, V] = logits.shape as number[];
  // Built again in gradFunc: tensors made here are released by the forward's tidy before backprop.
  const rowsAndTargets = () => [tf.range(0, N, 1, 'int32'), targets.cast('int32')];
  const pick = tf.customGrad((...inputs) => ({
    value: tf.tidy(() => {
      const [rows, t] = rowsAndTargets();
      return tf.gather((inputs[0] as Tensor).reshape([N * V]), tf.add(tf.mul(rows, tf.scalar(V, 'int32')), t)); // flat index i·V + t_i
    }),
    gradFunc: (dy: Tensor) => tf.tidy(() => tf.scatterND(tf.stack(rowsAndTargets(), 1), dy, [N, V])), // [N, V], dy at (i, t_i)
  }));
  return pick(logits);
}

export const compositeOps: Ops = {
  name: 'composite',

  linear(x, weight, bias) {
    return tf.tidy(() => {
      const [outF, inF] = weight.shape;
      const lead = x.shape.slice(0, -1);
      let y = matMulTransposeB(x.reshape([-1, inF]), weight); // [N, out]
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
      let scores = tf.mul(matMulTransposeB(qg, k), scale); // [B, nKV, groups*T, Tk]
      if (mask) {
        scores = tf.add(scores.reshape([B, nKV, groups, T, Tk]), mask.expandDims(1)); // mask [B, 1, 1, T, Tk]
        scores = scores.reshape([B, nKV, groups * T, Tk]);
      }
      const probs = tf.softmax(scores, -1);
      return tf.matMul(probs, v).reshape([B, nH, T, hd]); // [B, nKV, groups*T, hd] → [B, nH, T, hd]
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
    return tf.tidy(() => {
      const lse = tf.logSumExp(logits, -1); // [N]
      return tf.sum(tf.mul(tf.sub(lse, pickTargets(logits, targets)), weights)) as Scalar;
    });
  },
};

