/**
 * Linear layers and the slots that hold them — the seam LoRA plugs into.
 *
 * Every projection a model owns (q_proj, k_proj, ..., GPT-2's c_attn, ...) is a `Linear` held in a
 * `LinearSlot`. The model always calls `slot.forward(x)`, which forwards to whatever module the
 * slot currently holds, so an adapter is applied by replacing the module and removed by putting
 * the base back:
 *
 *   for (const [name, slot] of model.linearModules()) {
 *     if (targets.has(leafName(name))) slot.module = new LoraLinear(slot.module, rank, alpha);
 *   }
 *   ...
 *   slot.module = (slot.module as LoraLinear).base; // unload
 *
 * `name` is the Hugging Face module path (`model.layers.0.self_attn.q_proj`,
 * `transformer.h.0.attn.c_attn`); PEFT tensor names are `base_model.model.<name>.lora_A.weight`.
 *
 * The base layer is a `DenseLinear`: weight [out, in] in nn.Linear layout for every architecture
 * (GPT-2's Conv1D weights are transposed when loaded, see weights.ts), so a LoRA delta
 * `scale · (lora_B [out, r] @ lora_A [r, in])` adds to `weight.value` directly. To merge, assign a
 * new tensor to `dense.weight` (`dense.weight.assign(merged)`).
 */
import type { Tensor } from '@tensorflow/tfjs';
import { ops } from '../ops';
import type { Weight, WeightSet } from './weights';

export interface Linear {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** x [..., inFeatures] → [..., outFeatures]. Must be differentiable and leak no tensors. */
  forward(x: Tensor): Tensor;
}

/** A frozen base projection: y = x · weightᵀ + bias. */
export class DenseLinear implements Linear {
  constructor(
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    /** [out, in] */
    readonly weight: Weight,
    /** [out] or null */
    readonly bias: Weight | null,
  ) {}

  forward(x: Tensor): Tensor {
    return ops().linear(x, this.weight.value, this.bias?.value ?? null);
  }
}

/** Mutable holder of one projection; see the header comment. */
export class LinearSlot {
  constructor(public module: Linear) {}

  get name(): string {
    return this.module.name;
  }

  /** The underlying frozen layer, unwrapping any adapters (modules that keep theirs in `base`). */
  get base(): DenseLinear {
    let m: Linear = this.module;
    while (!(m instanceof DenseLinear) && 'base' in m) m = (m as { base: Linear }).base;
    if (!(m instanceof DenseLinear)) throw new Error(`${this.name}: no DenseLinear base layer`);
    return m;
  }

  forward(x: Tensor): Tensor {
    return this.module.forward(x);
  }
}

/**
 * Declares `<name>.weight` (and `<name>.bias` when `bias`) in `weights` and returns a slot holding
 * the dense layer. `storedTransposed`: the checkpoint keeps the weight as (in, out) (GPT-2 Conv1D).
 */
export function linearSlot(
  weights: WeightSet,
  name: string,
  inFeatures: number,
  outFeatures: number,
  opts: { bias?: boolean; storedTransposed?: boolean } = {},
): LinearSlot {
  const weight = weights.declare(`${name}.weight`, [outFeatures, inFeatures], { storedTransposed: opts.storedTransposed });
  const bias = opts.bias ? weights.declare(`${name}.bias`, [outFeatures]) : null;
  return new LinearSlot(new DenseLinear(name, inFeatures, outFeatures, weight, bias));
}
