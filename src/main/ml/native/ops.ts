/**
 * `nativeOps`: the Ops interface (src/main/ml/ops/types.ts) with fused forward and backward
 * passes in the native addon, each wrapped as a tfjs custom-gradient op. One call replaces the
 * composite's chain of kernels (RMSNorm: 6 forward kernels and ~12 backward ones), with no
 * intermediate tensors and one pass over memory each way.
 *
 * On any backend other than `native` every op runs the composite version, so the object can be
 * installed once (`setOps(nativeOps)`) whatever backend is active. `linear` is always the
 * composite: it is one GEMM already, and tfjs then skips the weight gradient of frozen weights,
 * which a custom gradient would compute.
 *
 * Gradients flow to the tensors a model trains through (x, q/k/v, gate/up, logits, norm weights
 * and biases). RoPE's cos/sin, the attention mask and cross-entropy's targets/weights are treated
 * as constants: asking tf.grads for their gradient throws, as for any tensor not on the tape.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradSaveFunc, Scalar, Tensor } from '@tensorflow/tfjs';
import { compositeOps } from '../ops/composite';
import type { Ops } from '../ops/types';
import { NATIVE_BACKEND, NativeBackend } from './backend';

/** The active native backend, or null when another backend is active. */
function nativeBackend(): NativeBackend | null {
  if (tf.getBackend() !== NATIVE_BACKEND) return null;
  const b = tf.backend();
  return b instanceof NativeBackend ? b : null;
}

/** A tensor's float32 values: its own array on the native backend, a read-back otherwise. */
function floats(b: NativeBackend, t: Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`native ops need float32 tensors, got ${t.dtype}`);
  if (b.data.has(t.dataId)) return b.floats(t);
  return t.dataSync() as Float32Array;
}

function int32s(b: NativeBackend, t: Tensor): Int32Array {
  if (t.dtype === 'int32' && b.data.has(t.dataId)) {
    const raw = b.raw(t);
    if (raw instanceof Int32Array) return raw;
  }
  return Int32Array.from(t.dataSync() as ArrayLike<number>);
}

const wrap = (values: Float32Array, shape: number[]): Tensor => tf.tensor(values, shape, 'float32');

type Forward = (inputs: Tensor[], save: GradSaveFunc) => { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] };

/** Runs `forward` as a tfjs custom-gradient op over `inputs` (the tensors that get gradients). */
function fused(forward: Forward, ...inputs: Tensor[]): Tensor {
  const f = (...args: Array<Tensor | GradSaveFunc>) => forward(args.slice(0, -1) as Tensor[], args[args.length - 1] as GradSaveFunc);
  return tf.customGrad(f as Parameters<typeof tf.customGrad>[0])(...inputs);
}
const last = (t: Tensor): number => t.shape[t.rank - 1] as number;

/** Ops whose fused LoRA projection is always there (see Ops.loraLinear in ../ops/types.ts). */
export type LoraLinearOp = Required<Pick<Ops, 'loraLinear'>>;

/** The composite LoRA linear, as src/main/ml/lora/layer.ts computes it: the reference for the fused one. */
export function compositeLoraLinear(x: Tensor, weight: Tensor, bias: Tensor | null, loraA: Tensor, loraB: Tensor, scale: number, xLora?: Tensor): Tensor {
  return tf.tidy(() => tf.add(compositeOps.linear(x, weight, bias), tf.mul(compositeOps.linear(compositeOps.linear(xLora ?? x, loraA), loraB), scale)));
}

export const nativeOps: Ops & LoraLinearOp = {
  name: 'native',

  loraLinear(x, weight, bias, loraA, loraB, scale, xLora) {
    const b = nativeBackend();
    const [outF, inF] = weight.shape as number[];
    const r = loraA.shape[0] as number;
    const fits =
      weight.rank === 2 && last(x) === inF && loraA.rank === 2 && loraA.shape[1] === inF && loraB.rank === 2 &&
      loraB.shape[0] === outF && loraB.shape[1] === r && (!bias || bias.size === outF) && (!xLora || tf.util.arraysEqual(xLora.shape, x.shape));
    if (!b || !fits || x.size === 0 || r === 0) return compositeLoraLinear(x, weight, bias, loraA, loraB, scale, xLora);
    const N = x.size / inF;
    const outShape = [...x.shape.slice(0, -1), outF];
    const inputs = xLora ? [x, xLora, loraA, loraB] : [x, loraA, loraB];
    return fused((ins, save) => {
      const [xi, xl, ai, bi] = xLora ? ins : [ins[0], null, ins[1], ins[2]];
      const y = b.alloc(N * outF);
      const h = b.alloc(N * r);
      b.addon.loraLinear(floats(b, xi), xl ? floats(b, xl) : null, floats(b, weight), bias ? floats(b, bias) : null, floats(b, ai), floats(b, bi), N, inF, outF, r, scale, y, h);
      save([xi, ...(xl ? [xl] : []), ai, bi, weight, wrap(h, [N, r])]);
      return {
        value: wrap(y, outShape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, xls, as, bs, ws, hs] = xl ? saved : [saved[0], null, saved[1], saved[2], saved[3], saved[4]];
          const dx = b.alloc(N * inF);
          const dxl = xls ? b.alloc(N * inF) : null;
          const da = b.alloc(r * inF);
          const db = b.alloc(outF * r);
          b.addon.loraLinearGrad(floats(b, dy), floats(b, xs), xls ? floats(b, xls) : null, floats(b, ws), floats(b, as), floats(b, bs), floats(b, hs), N, inF, outF, r, scale, dx, dxl, da, db);
          const grads = [wrap(dx, xs.shape), wrap(da, as.shape), wrap(db, bs.shape)];
          if (xls && dxl) grads.splice(1, 0, wrap(dxl, xls.shape));
          return grads;
        },
      };
    }, ...inputs);
  },

  linear: compositeOps.linear,

  rmsNorm(x, weight, eps) {
    const b = nativeBackend();
    const D = last(x);
    if (!b || x.size === 0 || weight.size !== D) return compositeOps.rmsNorm(x, weight, eps);
    const N = x.size / D;
    return fused(([xi, wi], save) => {
      const y = b.alloc(N * D);
      const rstd = b.alloc(N);
      b.addon.rmsNorm(floats(b, xi), floats(b, wi), N, D, eps, y, rstd);
      save([xi, wi, wrap(rstd, [N])]);
      return {
        value: wrap(y, xi.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, ws, rs] = saved;
          const dx = b.alloc(N * D);
          const dw = b.alloc(D);
          b.addon.rmsNormGrad(floats(b, dy), floats(b, xs), floats(b, ws), floats(b, rs), N, D, dx, dw);
          return [wrap(dx, xs.shape), wrap(dw, ws.shape)];
        },
      };
    }, x, weight);
  },

  layerNorm(x, weight, bias, eps) {
    const b = nativeBackend();
    const D = last(x);
    if (!b || x.size === 0 || weight.size !== D || bias.size !== D) return compositeOps.layerNorm(x, weight, bias, eps);
    const N = x.size / D;
    return fused(([xi, wi, bi], save) => {
      const y = b.alloc(N * D);
      const mean = b.alloc(N);
      const rstd = b.alloc(N);
      b.addon.layerNorm(floats(b, xi), floats(b, wi), floats(b, bi), N, D, eps, y, mean, rstd);
      save([xi, wi, wrap(mean, [N]), wrap(rstd, [N])]);
      return {
        value: wrap(y, xi.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [xs, ws, ms, rs] = saved;
          const dx = b.alloc(N * D);
          const dw = b.alloc(D);
          const db = b.alloc(D);
          b.addon.layerNormGrad(floats(b, dy), floats(b, xs), floats(b, ws), floats(b, ms), floats(b, rs), N, D, dx, dw, db);
          return [wrap(dx, xs.shape), wrap(dw, ws.shape), wrap(db, bi.shape)];
        },
      };
    }, x, weight, bias);
  },

  rope(x, cos, sin) {
    const b = nativeBackend();
    const [B, H, T, hd] = x.shape as number[];
    const cb = cos.shape[0] as number;
    const fits =
      x.rank === 4 && hd % 2 === 0 && cos.rank === 3 && tf.util.arraysEqual(cos.shape, sin.shape) &&
      (cb === 1 || cb === B) && cos.shape[1] === T && cos.shape[2] === hd;
    if (!b || !fits || x.size === 0) return compositeOps.rope(x, cos, sin);
    return fused(([xi], save) => {
      const y = b.alloc(xi.size);
      b.addon.rope(floats(b, xi), floats(b, cos), floats(b, sin), B, H, T, hd, cb, y, false);
      save([cos, sin]);
      return {
        value: wrap(y, xi.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [c, s] = saved;
          const dx = b.alloc(dy.size);
          b.addon.rope(floats(b, dy), floats(b, c), floats(b, s), B, H, T, hd, cb, dx, true);
          return [wrap(dx, dy.shape)];
        },
      };
    }, x);
  },

  attention(q, k, v, mask, scale) {
    const b = nativeBackend();
    const [B, nH, T, hd] = q.shape as number[];
    const [, nKV, Tk] = k.shape as number[];
    const mb = mask ? (mask.shape[0] as number) : 1;
    const fits =
      q.rank === 4 && k.rank === 4 && tf.util.arraysEqual(k.shape, v.shape) && k.shape[0] === B && k.shape[3] === hd &&
      nKV > 0 && nH % nKV === 0 &&
      (!mask || (mask.rank === 4 && (mb === 1 || mb === B) && mask.shape[1] === 1 && mask.shape[2] === T && mask.shape[3] === Tk));
    if (!b || !fits || q.size === 0 || k.size === 0) return compositeOps.attention(q, k, v, mask, scale);
    return fused(([qi, ki, vi], save) => {
      const out = b.alloc(qi.size);
      const probs = b.alloc(B * nH * T * Tk);
      b.addon.attention(floats(b, qi), floats(b, ki), floats(b, vi), mask ? floats(b, mask) : null, B, nH, nKV, T, Tk, hd, mb, scale, out, probs);
      save([qi, ki, vi, wrap(probs, [B, nH, T, Tk])]);
      return {
        value: wrap(out, qi.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [qs, ks, vs, ps] = saved;
          const dq = b.alloc(qs.size);
          const dk = b.alloc(ks.size);
          const dv = b.alloc(vs.size);
          b.addon.attentionGrad(floats(b, dy), floats(b, qs), floats(b, ks), floats(b, vs), floats(b, ps), B, nH, nKV, T, Tk, hd, scale, dq, dk, dv);
          return [wrap(dq, qs.shape), wrap(dk, ks.shape), wrap(dv, vs.shape)];
        },
      };
    }, q, k, v);
  },

  swiglu(gate, up) {
    const b = nativeBackend();
    if (!b || !tf.util.arraysEqual(gate.shape, up.shape) || gate.size === 0) return compositeOps.swiglu(gate, up);
    return fused(([g, u], save) => {
      const y = b.alloc(g.size);
      b.addon.swiglu(floats(b, g), floats(b, u), y);
      save([g, u]);
      return {
        value: wrap(y, g.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [gs, us] = saved;
          const dg = b.alloc(gs.size);
          const du = b.alloc(us.size);
          b.addon.swigluGrad(floats(b, dy), floats(b, gs), floats(b, us), dg, du);
          return [wrap(dg, gs.shape), wrap(du, us.shape)];
        },
      };
    }, gate, up);
  },

  gelu(x) {
    const b = nativeBackend();
    if (!b || x.size === 0) return compositeOps.gelu(x);
    return fused(([xi], save) => {
      const y = b.alloc(xi.size);
      b.addon.gelu(floats(b, xi), y);
      save([xi]);
      return {
        value: wrap(y, xi.shape),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const dx = b.alloc(dy.size);
          b.addon.geluGrad(floats(b, dy), floats(b, saved[0]), dx);
          return [wrap(dx, dy.shape)];
        },
      };
    }, x);
  },

  crossEntropy(logits, targets, weights): Scalar {
    const b = nativeBackend();
    const [N, V] = logits.shape as number[];
    if (!b || logits.rank !== 2 || targets.size !== N || weights.size !== N || N === 0) return compositeOps.crossEntropy(logits, targets, weights);
    // Copies: the backward runs after the caller may have disposed targets and weights.
    const t = int32s(b, targets).slice();
    const w = floats(b, weights).slice();
    return fused(([l], save) => {
      const lse = b.alloc(N);
      const loss = b.addon.crossEntropy(floats(b, l), t, w, N, V, lse);
      save([l, wrap(lse, [N])]);
      return {
        value: tf.scalar(loss, 'float32'),
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [ls, lses] = saved;
          const dl = b.alloc(N * V);
          b.addon.crossEntropyGrad(floats(b, dy)[0], floats(b, ls), t, w, floats(b, lses), N, V, dl);
          return [wrap(dl, [N, V])];
        },
      };
    }, logits) as Scalar;
  },
};
