/**
 * Rotary position embedding tables: inverse frequencies (with the `rope_scaling` variants we
 * support: none/default, linear, llama3) and cos/sin for given positions, in Hugging Face's
 * rotate-half layout (the hd/2 frequencies repeated twice).
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { z } from 'zod';

/** `rope_scaling` as config.json writes it (older files say `type`, newer `rope_type`). */
export const RopeScalingSchema = z
  .object({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive().optional(),
    low_freq_factor: z.number().optional(),
    high_freq_factor: z.number().optional(),
    original_max_position_embeddings: z.number().int().positive().optional(),
  })
  .loose()
  .nullable()
  .optional();

export type RopeScaling =
  | { kind: 'default' }
  | { kind: 'linear'; factor: number }
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'];

/** Interprets a parsed `rope_scaling`; returns an error message for unsupported or incomplete ones. */
export function ropeScalingFrom(raw: z.infer<typeof RopeScalingSchema>): RopeScaling | string {
  if (!raw) return { kind: 'default' };
  const type = raw.rope_type ?? raw.type ?? 'default';
  if (type === 'default') return { kind: 'default' };
  if (type === 'linear') {
    if (raw.factor === undefined) return 'linear scaling needs "factor"';
    return { kind: 'linear', factor: raw.factor };
  }
  if (type === 'llama3') {
    const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: orig } = raw;
    if (factor === undefined || low === undefined || high === undefined || orig === undefined) {
      return 'llama3 scaling needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings';
    }
    return { kind: 'llama3', factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: orig };
  }
  return `rope type "${type}" is not supported (supported: ${SUPPORTED_ROPE_TYPES.join(', ')})`;
}

/** inv_freq[i] = 1 / theta^(2i / hd), i < hd/2, then scaled as transformers does. */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (scaling.kind === 'linear') for (let i = 0; i < half; i++) inv[i] /= scaling.factor;
  if (scaling.kind === 'llama3') {
    // Long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
    const lowFreqWavelen = originalMaxPositions / lowFreqFactor;
    const highFreqWavelen = originalMaxPositions / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowFreqWavelen) inv[i] = inv[i] / factor;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** cos/sin [B, T, hd] for position ids [B, T]. */
export function ropeCosSin(positionIds: Tensor, invFreq: Float32Array): { cos: Tensor; sin: Tensor } {
  return tf.tidy(() => {
    const angles = tf.mul(positionIds.cast('float32').expandDims(2), tf.tensor1d(invFreq)); // [B, T, hd/2]
    const full = tf.concat([angles, angles], 2); // [B, T, hd]
    return { cos: tf.cos(full), sin: tf.sin(full) };
  });
}
