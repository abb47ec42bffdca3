/**
 * Key/value cache for generation: per layer, the keys and values of every position seen so far,
 * [B, nKV, past, hd], grown by concatenation. The cache owns its tensors (kept out of tidy
 * scopes); call dispose() when the generation ends.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';

export class LayerCache {
  keys: Tensor | null = null;
  values: Tensor | null = null;

  /** Appends k/v [B, nKV, T, hd]; returns all keys/values so far [B, nKV, past + T, hd]. */
  update(k: Tensor, v: Tensor): [Tensor, Tensor] {
    const keys = this.keys ? tf.concat([this.keys, k], 2) : k.clone();
    const values = this.values ? tf.concat([this.values, v], 2) : v.clone();
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = tf.keep(keys);
    this.values = tf.keep(values);
    return [keys, values];
  }

  dispose(): void {
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = null;
    this.values = null;
  }
}

export class KVCache {
  readonly layers: LayerCache[];

  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => new LayerCache());
  }

  /** Number of positions stored (past length). */
  get length(): number {
    return (this.layers[0]?.keys?.shape[2] as number | undefined) ?? 0;
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}
