/**
 * AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW computes it:
 *   p ← p − lr·λ·p                       (decoupled weight decay)
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²
 *   p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
 * plus global-norm gradient clipping (torch.nn.utils.clip_grad_norm_). The moments live in
 * tensors the optimizer owns; `state()` / `restore()` move them in and out of checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Variable } from '@tensorflow/tfjs';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export class AdamW {
  /** Optimizer steps taken (t in the bias corrections). */
  step = 0;
  private m: Tensor[];
  private v: Tensor[];

  constructor(
    readonly params: Variable[],
    readonly opts: AdamWOptions,
  ) {
    this.m = params.map((p) => tf.keep(tf.zerosLike(p)));
    this.v = params.map((p) => tf.keep(tf.zerosLike(p)));
  }

  /** Applies one update with `grads` (same order as params) at learning rate `lr`. */
  apply(grads: Tensor[], lr: number): void {
    if (grads.length !== this.params.length) throw new Error(`AdamW: ${grads.length} gradients for ${this.params.length} parameters`);
    this.step += 1;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    this.params.forEach((p, i) => {
      const [m, v, next] = tf.tidy(() => {
        const g = grads[i];
        const decayed = weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), eps);
        return [tf.keep(m), tf.keep(v), tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize))];
      });
      p.assign(next);
      next.dispose();
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = m;
      this.v[i] = v;
    });
  }

  /** First and second moments, copied out (for checkpoints). */
  state(): { step: number; m: Float32Array[]; v: Float32Array[] } {
    return { step: this.step, m: this.m.map((t) => t.dataSync() as Float32Array), v: this.v.map((t) => t.dataSync() as Float32Array) };
  }

  restore(state: { step: number; m: Float32Array[]; v: Float32Array[] }): void {
    if (state.m.length !== this.params.length || state.v.length !== this.params.length) {
      throw new Error(`AdamW: checkpoint holds moments for ${state.m.length} parameters, the adapter has ${this.params.length}`);
    }
    this.params.forEach((p, i) => {
      if (state.m[i].length !== p.size || state.v[i].length !== p.size) throw new Error(`AdamW: moment ${i} has the wrong size`);
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = tf.keep(tf.tensor(state.m[i], p.shape, 'float32'));
      this.v[i] = tf.keep(tf.tensor(state.v[i], p.shape, 'float32'));
    });
    this.step = state.step;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
    this.m = [];
    this.v = [];
  }
}

/** √Σ‖g‖² over all gradients (float32 on the backend, read back as a number). */
export function globalNorm(grads: Tensor[]): number {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
}

/**
 * clip_grad_norm_: when the norm exceeds maxNorm, scales by maxNorm / (norm + 1e-6). Returns new
 * tensors (the caller disposes the old ones) or the same array when no clipping was needed.
 */
export function clipByGlobalNorm(grads: Tensor[], norm: number, maxNorm: number): Tensor[] {
  if (!(maxNorm > 0)) return grads;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return grads;
  return grads.map((g) => tf.mul(g, coef));
}
