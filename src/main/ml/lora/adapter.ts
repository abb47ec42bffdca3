/**
 * A LoRA adapter attached to a model: one LoraLinear per selected projection, sitting in the
 * model's LinearSlots, and the variables (lora_A, lora_B of each) the optimizer trains.
 *
 * `attach` builds fresh factors (default / gaussian / PiSSA init); `attachFactors` puts given
 * factors in (a loaded adapter, a checkpoint). `detach` puts the base layers back; `fuse` merges
 * every delta into the base weights for good. With PiSSA the base weights hold the residual while
 * attached; `initialFactors` keeps the step-0 factors, needed to save a plain-LoRA adapter that
 * applies to the original model (PEFT's PiSSA→LoRA conversion) and to rebuild the residual exactly
 * on resume.
 */
import * as tf from '@tensorflow/tfjs';
import type { Variable } from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import type { DenseLinear } from '../models/linear';
import type { Rng } from '../train/rng';
import { defaultInit, gaussianInit, pissaInit, type InitialFactors } from './init';
import { LoraLinear } from './layer';
import { loraScale, selectModules, trainableParamCount, type LoraSpec, type SelectedModule } from './spec';

export type Factors = Map<string, InitialFactors>;

export class LoraAdapter {
  private attached = true;

  private constructor(
    readonly model: CausalLM,
    readonly spec: LoraSpec,
    /** In model order. */
    readonly layers: LoraLinear[],
    /** PiSSA only: the factors at step 0 (the base weights hold W − s·B₀·A₀). */
    readonly initialFactors: Factors | null,
  ) {}

  /** Selects the modules `spec` names and initialises their factors with `spec.init`. */
  static attach(model: CausalLM, spec: LoraSpec, rng: Rng): LoraAdapter {
    const selected = selectModules(spec, model.linearModules(), model.dims.numLayers);
    const factors: Factors = new Map();
    for (const m of selected) {
      if (spec.init === 'default') factors.set(m.name, defaultInit(m.r, m.inFeatures, m.outFeatures, rng));
      else if (spec.init === 'gaussian') factors.set(m.name, gaussianInit(m.r, m.inFeatures, m.outFeatures, rng));
      else {
        const w = m.slot.base.weight.value.dataSync() as Float32Array;
        factors.set(m.name, pissaInit(w, m.r, m.inFeatures, m.outFeatures, loraScale(m.alpha, m.r, spec.rslora), rng));
      }
    }
    return LoraAdapter.attachFactors(model, spec, factors, spec.init === 'pissa' ? factors : null);
  }

  /**
   * Attaches `factors` (every selected module must have one, with its rank's shapes). With
   * `pissaInitial`, the base weights are first replaced by their PiSSA residuals.
   */
  static attachFactors(model: CausalLM, spec: LoraSpec, factors: Factors, pissaInitial: Factors | null = null): LoraAdapter {
    const selected = selectModules(spec, model.linearModules(), model.dims.numLayers);
    const missing = selected.filter((m) => !factors.has(m.name)).map((m) => m.name);
    if (missing.length) throw new Error(`adapter factors missing for: ${missing.join(', ')}`);
    for (const m of selected) {
      if (!(m.slot.module === m.slot.base)) throw new Error(`${m.name} already holds an adapter; detach it first`);
    }
    const layers: LoraLinear[] = [];
    for (const m of selected) {
      const f = factors.get(m.name) as InitialFactors;
      if (pissaInitial) subtractDelta(m, pissaInitial.get(m.name) as InitialFactors, spec.rslora);
      const a = newVariable(f.a, [m.r, m.inFeatures]);
      const b = newVariable(f.b, [m.outFeatures, m.r]);
      const layer = new LoraLinear(m.slot.base, a, b, m.r, m.alpha, spec.rslora, spec.dropout);
      m.slot.module = layer;
      layers.push(layer);
    }
    return new LoraAdapter(model, spec, layers, pissaInitial);
  }

  get isAttached(): boolean {
    return this.attached;
  }

  /** The trained variables: lora_A then lora_B of each module, in model order. */
  variables(): Variable[] {
    return this.layers.flatMap((l) => [l.loraA, l.loraB]);
  }

  /** PEFT tensor name → variable, same order as variables(). */
  namedVariables(): [string, Variable][] {
    return this.layers.flatMap((l): [string, Variable][] => [
      [peftKey(l.name, 'A'), l.loraA],
      [peftKey(l.name, 'B'), l.loraB],
    ]);
  }

  trainableParams(): number {
    return trainableParamCount(this.layers);
  }

  /** Dropout on (masks from `rng`) while training; null turns it off for evaluation. */
  setTraining(rng: Rng | null): void {
    for (const l of this.layers) l.dropoutRng = rng;
  }

  /** Current factors, copied out of the variables. */
  factors(): Factors {
    return new Map(this.layers.map((l) => [l.name, { a: l.loraA.dataSync() as Float32Array, b: l.loraB.dataSync() as Float32Array }]));
  }

  /** Puts the base layers back (restoring PiSSA residuals to W) and releases A and B. */
  detach(): void {
    if (!this.attached) return;
    const slots = this.model.linearModules();
    for (const l of this.layers) {
      const slot = slots.get(l.name);
      if (slot) slot.module = l.base;
      const init = this.initialFactors?.get(l.name);
      if (init) addDelta(l.base, init, l.r, loraScale(l.alpha, l.r, l.rslora));
      l.dispose();
    }
    this.attached = false;
  }

  /**
   * Merges every adapter into its base weight (refusing non-finite results, PEFT's safe_merge)
   * and detaches. All merges are checked before any weight changes.
   */
  fuse(): void {
    if (!this.attached) throw new Error('adapter is not attached');
    const bad = this.layers.filter((l) => tf.tidy(() => tf.all(tf.isFinite(tf.add(l.base.weight.value, l.deltaWeight()))).dataSync()[0] !== 1));
    if (bad.length) {
      throw new Error(`merging gives NaN or Inf weights in ${bad.map((l) => l.name).join(', ')}; the base model was left unchanged`);
    }
    const slots = this.model.linearModules();
    for (const l of this.layers) {
      const slot = slots.get(l.name);
      if (slot) slot.module = l.fuse();
      l.dispose();
    }
    this.attached = false;
  }
}

export function peftKey(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

/** A trainable variable holding a copy of `data` (the temporary initial tensor is released). */
function newVariable(data: Float32Array, shape: [number, number]): Variable {
  const init = tf.tensor2d(data, shape);
  const v = tf.variable(init, true);
  init.dispose();
  return v;
}

function subtractDelta(m: SelectedModule, f: InitialFactors, rslora: boolean): void {
  const scale = loraScale(m.alpha, m.r, rslora);
  const w = m.slot.base.weight;
  w.assign(tf.tidy(() => tf.sub(w.value, tf.mul(tf.matMul(tf.tensor2d(f.b, [m.outFeatures, m.r]), tf.tensor2d(f.a, [m.r, m.inFeatures])), scale))));
}

function addDelta(base: DenseLinear, f: InitialFactors, r: number, scale: number): void {
  const w = base.weight;
  w.assign(tf.tidy(() => tf.add(w.value, tf.mul(tf.matMul(tf.tensor2d(f.b, [base.outFeatures, r]), tf.tensor2d(f.a, [r, base.inFeatures])), scale))));
}
