/**
 * The named weights of a model. A model declares every weight (Hugging Face name and shape) when
 * it is built, before any data exists; the loader then fills them one tensor at a time. This gives
 * the expected checkpoint contents for validation and parameter counts without loading anything.
 *
 * Shapes are the shapes the model computes with. A weight stored transposed in the checkpoint
 * (GPT-2's Conv1D keeps (in, out)) says so with `storedTransposed`; `checkpointShape` is then the
 * reversed shape and the loader transposes on the way in.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { numel } from '../safetensors';

export class Weight {
  private tensor: Tensor | null = null;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly storedTransposed = false,
  ) {}

  get checkpointShape(): number[] {
    return this.storedTransposed ? [...this.shape].reverse() : [...this.shape];
  }

  get loaded(): boolean {
    return this.tensor !== null;
  }

  /** The tensor ([...shape], float32). Throws if the weight was never loaded. */
  get value(): Tensor {
    if (!this.tensor) throw new Error(`weight ${this.name} is not loaded`);
    return this.tensor;
  }

  /** Takes ownership of `t` (kept out of any tidy scope); disposes the previous value. */
  assign(t: Tensor): void {
    if (t.shape.length !== this.shape.length || t.shape.some((d, i) => d !== this.shape[i])) {
      throw new Error(`weight ${this.name}: expected shape [${this.shape.join(', ')}], got [${t.shape.join(', ')}]`);
    }
    if (t.dtype !== 'float32') throw new Error(`weight ${this.name}: expected float32, got ${t.dtype}`);
    if (this.tensor && this.tensor !== t) this.tensor.dispose();
    this.tensor = tf.keep(t);
  }

  dispose(): void {
    this.tensor?.dispose();
    this.tensor = null;
  }
}

export class WeightSet {
  private readonly byName = new Map<string, Weight>();

  declare(name: string, shape: readonly number[], opts: { storedTransposed?: boolean } = {}): Weight {
    if (this.byName.has(name)) throw new Error(`weight ${name} declared twice`);
    const w = new Weight(name, shape, opts.storedTransposed ?? false);
    this.byName.set(name, w);
    return w;
  }

  get(name: string): Weight | undefined {
    return this.byName.get(name);
  }

  all(): Weight[] {
    return [...this.byName.values()];
  }

  /** Parameter count (tied weights are declared once, so counted once). */
  numParams(): number {
    return this.all().reduce((n, w) => n + numel(w.shape), 0);
  }

  dispose(): void {
    for (const w of this.byName.values()) w.dispose();
  }
}
