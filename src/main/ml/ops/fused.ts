/**
 * `fusedOps`: the Ops interface with each op one node on tfjs' tape and its gradient written out,
 * in plain tfjs ops (so any backend runs it). Installed for the wasm backend by backends.ts;
 * composite.ts stays the reference it is tested against (test/main/ml/ops/fused.test.ts).
 *
 * Why: tfjs keeps, until the whole backward pass ends, every tensor a tape node saved and the
 * gradient of every intermediate tensor (tfjs-core's backpropagateGradients frees nothing as it
 * goes). With the composite ops a SmolLM2-135M step (batch 4 × 256) held ~270 MB per layer on the
 * wasm heap and could not fit wasm32's 4 GiB. One node per op keeps only what the gradient needs
 * (attention: q, k, v and the probabilities; RMSNorm: x and one number per row), its
 * intermediates die with the op, and its backward frees what it saved and the gradient it was
 * given as soon as it has run (see `fused`), so the backward pass no longer piles up.
 *
 * Products go through ./matmul.ts (XNNPACK-shaped on wasm, tf.matMul elsewhere). RoPE's cos/sin,
 * the attention mask and frozen weights are constants: they get no gradient. The fused LoRA
 * projection differentiates x, the dropout input, A and B, never the frozen weight; `linear`
 * differentiates its weight and bias only when they are trainable tf.Variables (what training
 * updates always is), and treats a plain tensor as a frozen weight.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradSaveFunc, Tensor } from '@tensorflow/tfjs';
import { compositeOps } from './composite';
import { matMul } from './matmul';
import type { Ops } from './types';

const GELU_C = Math.sqrt(2 / Math.PI);

type Forward = (inputs: Tensor[], save: GradSaveFunc) => { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] };

/**
 * Runs `forward` as one custom-gradient op over `inputs` (the tensors that get gradients).
 *
 * Its backward frees as it goes, which tfjs does not do (see the header): once the gradient is
 * computed, the tensors the op saved and the gradient it received are disposed. The received
 * gradient is always one tfjs made for this op alone: the op's value is handed out through
 * tf.clone (an Identity, which shares memory and saves nothing), and tfjs' gradient of that clone
 * is a new tensor, never a dy a caller passed to tf.grads. First-order gradients only (tfjs'
 * higher-order gradients would reuse the saved tensors).
 */
function fused(forward: Forward, ...inputs: Tensor[]): Tensor {
  const f = (...args: Array<Tensor | GradSaveFunc>) => {
    const { value, gradFunc } = forward(args.slice(0, -1) as Tensor[], args[args.length - 1] as GradSaveFunc);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const grads = tf.tidy(() => gradFunc(dy, saved));
        tf.dispose([dy, ...saved]);
        return grads;
      },
    };
  };
  return tf.tidy(() => tf.clone(tf.customGrad(f as Parameters<typeof tf.customGrad>[0])(...inputs)));
}

/** Sums t [..., D] over every axis but the last → [D] (the gradient of a broadcast [D] weight). */
const sumToLast = (t: Tensor): Tensor => tf.sum(t.reshape([-1, t.shape[t.rank - 1] as number]), 0);

/** rotate_half: [x1, x2] → [-x2, x1] on the last axis, and its transpose [g1, g2] → [g2, -g1]. */
function rotateHalf(x: Tensor, transpose: boolean): Tensor {
  const hd = x.shape[x.rank - 1] as number;
  const [x1, x2] = tf.split(x, [hd / 2, hd / 2], x.rank - 1);
  return transpose ? tf.concat([x2, tf.neg(x1)], x.rank - 1) : tf.concat([tf.neg(x2), x1], x.rank - 1);
}

export const fusedOps: Ops = {
  name: 'fused',

  linear(x, weight, bias) {
    // A weight or bias that training updates is a trainable tf.Variable: then tfjs derives all
    // gradients. A frozen base layer is a plain tensor (LoraLinear never makes it a variable):
    // one op over x alone, whose backward is dx = dy·W; it keeps no x, and frees dy as soon as it
    // has run (tfjs would keep both to the end of the step; for the LM head dy is [tokens, vocab]).
    const trainable = (t: Tensor | null | undefined) => t instanceof tf.Variable && t.trainable;
    if (trainable(weight) || trainable(bias) || x.size === 0) return compositeOps.linear(x, weight, bias);
    const outF = weight.shape[0] as number;
    return fused(([xi], save) => {
      const value = compositeOps.linear(xi, weight, bias);
      save([weight]);
      return { value, gradFunc: (dy, [ws]) => [matMul(dy.reshape([-1, outF]), ws).reshape(xi.shape)] }; // [..., in]
    }, x);
  },

  loraLinear(x, weight, bias, loraA, loraB, scale, xLora) {
    const [outF, inF] = weight.shape as number[];
    const r = loraA.shape[0] as number;
    const N = x.size / inF;
    if (N === 0 || r === 0) {
      return tf.tidy(() => tf.add(compositeOps.linear(x, weight, bias), tf.mul(compositeOps.linear(compositeOps.linear(xLora ?? x, loraA), loraB), scale)));
    }
    const inputs = xLora ? [x, xLora, loraA, loraB] : [x, loraA, loraB];
    return fused((ins, save) => {
      const [xi, xl, a, b] = xLora ? ins : [ins[0], ins[0], ins[1], ins[2]];
      const h = tf.tidy(() => matMul(xl.reshape([N, inF]), a, false, true)); // [N, r]
      const value = tf.tidy(() => {
        const base = compositeOps.linear(xi, weight, bias); // [..., out]
        return tf.add(base, tf.mul(matMul(h, b, false, true), scale).reshape(base.shape));
      });
      save([xi, xl, a, b, weight, h]);
      return {
        value,
        gradFunc: (dy, [xs, xls, as, bs, ws, hs]) => {
          const g = dy.reshape([N, outF]);
          const gs = tf.mul(g, scale); // [N, out]
          const dh = matMul(gs, bs); // [N, r]
          const dB = matMul(gs, hs, true, false); // [out, r]
          const dA = matMul(dh, xls.reshape([N, inF]), true, false); // [r, in]
          const dxl = matMul(dh, as).reshape(xls.shape); // [..., in]
          const dx = matMul(g, ws).reshape(xs.shape); // [..., in], through the frozen weight
          return xLora ? [dx, dxl, dA, dB] : [tf.add(dx, dxl), dA, dB];
        },
      };
    }, ...inputs);
  },

  rmsNorm(x, weight, eps) {
    if (x.size === 0) return compositeOps.rmsNorm(x, weight, eps);
    return fused(([xi, w], save) => {
      const rstd = tf.tidy(() => tf.rsqrt(tf.add(tf.mean(tf.square(xi), -1, true), eps))); // [..., 1]
      const value = tf.tidy(() => tf.mul(tf.mul(xi, rstd), w));
      save([xi, w, rstd]);
      return {
        value,
        gradFunc: (dy, [xs, ws, rs]) => {
          const xhat = tf.mul(xs, rs);
          const g = tf.mul(dy, ws);
          // d/dx of x·rstd: rstd·(g − x̂·mean(g·x̂))
          const dx = tf.mul(rs, tf.sub(g, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))));
          return [dx, sumToLast(tf.mul(dy, xhat))];
        },
      };
    }, x, weight);
  },

  layerNorm(x, weight, bias, eps) {
    if (x.size === 0) return compositeOps.layerNorm(x, weight, bias, eps);
    return fused(([xi, w, b], save) => {
      const [mean, rstd] = tf.tidy(() => {
        const m = tf.moments(xi, -1, true); // biased variance, like torch
        return [m.mean, tf.rsqrt(tf.add(m.variance, eps))];
      });
      const value = tf.tidy(() => tf.add(tf.mul(tf.mul(tf.sub(xi, mean), rstd), w), b));
      save([xi, w, mean, rstd]);
      return {
        value,
        gradFunc: (dy, [xs, ws, ms, rs]) => {
          const xhat = tf.mul(tf.sub(xs, ms), rs);
          const g = tf.mul(dy, ws);
          // rstd·(g − mean(g) − x̂·mean(g·x̂))
          const dx = tf.mul(rs, tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))));
          return [dx, sumToLast(tf.mul(dy, xhat)), sumToLast(dy)];
        },
      };
    }, x, weight, bias);
  },

  rope(x, cos, sin) {
    if (x.size === 0) return compositeOps.rope(x, cos, sin);
    return fused(([xi], save) => {
      const value = tf.tidy(() => {
        const c = cos.expandDims(1); // [B, 1, T, hd]
        const s = sin.expandDims(1);
        return tf.add(tf.mul(xi, c), tf.mul(rotateHalf(xi, false), s));
      });
      save([cos, sin]);
      return {
        value,
        // y = x·c + R(x)·s  ⇒  dx = dy·c + Rᵀ(dy·s)
        gradFunc: (dy, [cs, ss]) => [tf.add(tf.mul(dy, cs.expandDims(1)), rotateHalf(tf.mul(dy, ss.expandDims(1)), true))],
      };
    }, x);
  },

  attention(q, k, v, mask, scale) {
    const [B, nH, T, hd] = q.shape as number[];
    const [, nKV, Tk] = k.shape as number[];
    if (q.size === 0 || k.size === 0 || nH % nKV !== 0) return compositeOps.attention(q, k, v, mask, scale);
    const groups = nH / nKV;
    return fused(([qi, ki, vi], save) => {
      // Query heads sharing a key/value head are folded into rows: h = kv·groups + g.
      const probs = tf.tidy(() => {
        let scores = tf.mul(matMul(qi.reshape([B, nKV, groups * T, hd]), ki, false, true), scale); // [B, nKV, G·T, Tk]
        if (mask) scores = tf.add(scores.reshape([B, nKV, groups, T, Tk]), mask.expandDims(1)).reshape([B, nKV, groups * T, Tk]);
        return tf.softmax(scores, -1);
      });
      const value = tf.tidy(() => matMul(probs, vi).reshape([B, nH, T, hd]));
      save([qi, ki, vi, probs]);
      return {
        value,
        gradFunc: (dy, [qs, ks, vs, ps]) => {
          const dO = dy.reshape([B, nKV, groups * T, hd]);
          const dP = matMul(dO, vs, false, true); // [B, nKV, G·T, Tk]
          // softmax backward, then the score scale: dS = P·(dP − Σ dP·P)·scale
          const dS = tf.mul(tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))), scale);
          const dq = matMul(dS, ks).reshape([B, nH, T, hd]);
          const dk = matMul(dS, qs.reshape([B, nKV, groups * T, hd]), true, false); // [B, nKV, Tk, hd]
          const dv = matMul(ps, dO, true, false); // [B, nKV, Tk, hd]
          return [dq, dk, dv];
        },
      };
    }, q, k, v);
  },

  swiglu(gate, up) {
    if (gate.size === 0) return compositeOps.swiglu(gate, up);
    return fused(([g, u], save) => {
      const value = tf.tidy(() => tf.mul(tf.mul(g, tf.sigmoid(g)), u));
      save([g, u]);
      return {
        value,
        gradFunc: (dy, [gs, us]) => {
          const s = tf.sigmoid(gs);
          const silu = tf.mul(gs, s);
          // silu'(g) = s·(1 + g·(1 − s))
          const dg = tf.mul(tf.mul(dy, us), tf.mul(s, tf.add(1, tf.mul(gs, tf.sub(1, s)))));
          return [dg, tf.mul(dy, silu)];
        },
      };
    }, gate, up);
  },

  gelu(x) {
    if (x.size === 0) return compositeOps.gelu(x);
    return fused(([xi], save) => {
      const value = compositeOps.gelu(xi);
      save([xi]);
      return {
        value,
        gradFunc: (dy, [xs]) => {
          const x2 = tf.square(xs);
          const t = tf.tanh(tf.mul(GELU_C, tf.mul(xs, tf.add(1, tf.mul(0.044715, x2)))));
          // 0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3·0.044715·x²)
          const inner = tf.mul(GELU_C, tf.add(1, tf.mul(3 * 0.044715, x2)));
          const d = tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(0.5, xs), tf.mul(tf.sub(1, tf.square(t)), inner)));
          return [tf.mul(dy, d)];
        },
      };
    }, x);
  },

  // Already one custom-gradient op.
  crossEntropy: compositeOps.crossEntropy,
};
