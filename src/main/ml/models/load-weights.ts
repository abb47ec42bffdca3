/**
 * Matching a checkpoint against a model skeleton, then filling the weights one tensor at a time.
 * `matchCheckpoint` reads headers only and reports every problem at once (missing tensors,
 * unexpected tensors, shape mismatches against config.json, non-float dtypes), so a broken folder
 * fails before any weight is read.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { CheckpointReader, type CheckpointLayout } from '../checkpoint';
import { FLOAT_DTYPES } from '../dtypes';
import type { CausalLM } from './causal-lm';

export class WeightsMismatchError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'WeightsMismatchError';
  }
}

/** Checkpoint tensor name → declared weight name, for every tensor the model uses. */
export function matchCheckpoint(model: CausalLM, layout: CheckpointLayout, configFile: string): Map<string, string> {
  const problems: string[] = [];
  const toLoad = new Map<string, string>();
  const source = new Map<string, string>(); // weight name → checkpoint name that fills it
  for (const [ckptName, info] of layout.tensors) {
    const weightName = model.weightNameFor(ckptName);
    if (weightName === null) continue;
    const weight = model.weights.get(weightName);
    const file = path.basename(info.file);
    if (!weight) {
      problems.push(`unexpected tensor "${ckptName}" in ${file} (not part of a ${model.modelType} model with this config)`);
      continue;
    }
    if (source.has(weightName)) {
      problems.push(`tensors "${source.get(weightName)}" and "${ckptName}" both load into ${weightName}`);
      continue;
    }
    const expected = weight.checkpointShape;
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      problems.push(`tensor "${ckptName}" in ${file} has shape [${info.shape.join(', ')}], config.json implies [${expected.join(', ')}]`);
      continue;
    }
    if (!FLOAT_DTYPES.includes(info.dtype)) {
      problems.push(`tensor "${ckptName}" in ${file} is ${info.dtype}; only F32, F16, BF16 and F64 weights can be loaded`);
      continue;
    }
    source.set(weightName, ckptName);
    toLoad.set(ckptName, weightName);
  }
  for (const w of model.weights.all()) {
    if (!source.has(w.name)) problems.push(`missing tensor "${w.name}"`);
  }
  if (problems.length > 0) {
    const where = layout.files.map((f) => path.basename(f)).join(', ');
    const shown = problems.slice(0, 20).join('; ') + (problems.length > 20 ? `; and ${problems.length - 20} more` : '');
    throw new WeightsMismatchError(`${path.dirname(layout.files[0])}: weights (${where}) do not match ${configFile}: ${shown}`, problems);
  }
  return toLoad;
}

/** Reads each tensor as F32 and hands it to its weight; at most one extra tensor alive at a time. */
export function loadWeights(model: CausalLM, layout: CheckpointLayout, configFile: string): void {
  const toLoad = matchCheckpoint(model, layout, configFile);
  const reader = new CheckpointReader(layout);
  try {
    for (const [ckptName, weightName] of toLoad) {
      const weight = model.weights.get(weightName)!;
      const stored = tf.tensor(reader.readFloat32(ckptName), weight.checkpointShape, 'float32');
      if (weight.storedTransposed) {
        weight.assign(tf.transpose(stored)); // Conv1D (in, out) → [out, in]
        stored.dispose();
      } else {
        weight.assign(stored);
      }
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    reader.close();
  }
}
