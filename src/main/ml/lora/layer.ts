/**
 * One LoRA-adapted projection (mlx-lm's LoRALinear, PEFT's lora.Linear):
 *
 *   y = x·Wᵀ (+ bias) + s · (dropout(x)·Aᵀ)·Bᵀ,   A [r, in], B [out, r], s = alpha/r (or alpha/√r)
 *
 * The base layer stays frozen (its weight is a plain tensor, never a tf.Variable); only A and B are
 * variables. `fuse` merges s·B·A into the base weight (PEFT's safe_merge: refuses a result with
 * NaN or Inf and leaves the base untouched). Dropout draws its masks from the trainer's Rng, so a
 * run replays exactly.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { DenseLinear, type Linear } from '../models/linear';
import { ops } from '../ops';
import type { Rng } from '../train/rng';
import { loraScale } from './spec';

export class LoraMergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraMergeError';
  }
}

export class LoraLinear implements Linear {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Dropout masks come from here while training; null = evaluation (no dropout). */
  dropoutRng: Rng | null = null;

  constructor(
    readonly base: DenseLinear,
    /** [r, in] */
    readonly loraA: Variable,
    /** [out, r] */
    readonly loraB: Variable,
    readonly r: number,
    readonly alpha: number,
    readonly rslora: boolean,
    readonly dropout: number,
  ) {
    this.name = base.name;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    if (loraA.shape[0] !== r || loraA.shape[1] !== base.inFeatures) {
      throw new Error(`${base.name}: lora_A must be [${r}, ${base.inFeatures}], got [${loraA.shape.join(', ')}]`);
    }
    if (loraB.shape[0] !== base.outFeatures || loraB.shape[1] !== r) {
      throw new Error(`${base.name}: lora_B must be [${base.outFeatures}, ${r}], got [${loraB.shape.join(', ')}]`);
    }
  }

  get scale(): number {
    return loraScale(this.alpha, this.r, this.rslora);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const xd = this.dropoutRng && this.dropout > 0 ? tf.mul(x, this.dropoutMask(x.shape)) : x;
      const active = ops();
      if (active.loraLinear) {
        // One fused op where the active Ops has it (native, fused: base GEMM + low-rank branch, no
        // gradient for the frozen weight); same formula, same dropout draws.
        const base = this.base;
        return active.loraLinear(x, base.weight.value, base.bias?.value ?? null, this.loraA, this.loraB, this.scale, xd === x ? undefined : xd);
      }
      const y = this.base.forward(x); // [..., out]
      const h = active.linear(xd, this.loraA); // [..., r]
      const delta = active.linear(h, this.loraB); // [..., out]
      return tf.add(y, tf.mul(delta, this.scale));
    });
  }

  /** s · B·A [out, in]: what fuse adds to the base weight. */
  deltaWeight(): Tensor {
    return tf.tidy(() => tf.mul(tf.matMul(this.loraB, this.loraA), this.scale));
  }

  /**
   * Adds the delta into the base weight and returns the base layer (to put back in the slot).
   * Throws LoraMergeError, changing nothing, when the merged weight is not finite.
   */
  fuse(): DenseLinear {
    const merged = tf.tidy(() => tf.add(this.base.weight.value, this.deltaWeight()));
    const finite = tf.tidy(() => tf.all(tf.isFinite(merged)).dataSync()[0] === 1);
    if (!finite) {
      merged.dispose();
      throw new LoraMergeError(`${this.name}: merging the adapter gives NaN or Inf weights; the base model was left unchanged`);
    }
    this.base.weight.assign(merged);
    return this.base;
  }

  /** Inverted dropout: keep with probability 1-p, scaled by 1/(1-p). */
  private dropoutMask(shape: number[]): Tensor {
    const p = this.dropout;
    const rng = this.dropoutRng as Rng;
    const n = shape.reduce((a, b) => a * b, 1);
    const mask = new Float32Array(n);
    const keep = 1 / (1 - p);
    for (let i = 0; i < n; i++) mask[i] = rng.next() >= p ? keep : 0;
    return tf.tensor(mask, shape, 'float32');
  }

  /** Releases A and B (the base layer belongs to the model). */
  dispose(): void {
    this.loraA.dispose();
    this.loraB.dispose();
  }
}
