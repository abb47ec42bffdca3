/**
 * Initial values of lora_A [r, in] and lora_B [out, r], as PEFT makes them:
 *  - default: A ~ kaiming_uniform_(a=√5) = U(−1/√in, 1/√in) (torch's nn.Linear init), B = 0;
 *  - gaussian: A ~ N(0, (1/r)²), B = 0;
 *  - pissa: from the top-r SVD W ≈ U·S·Vᵀ, A = diag(√(S/s))·Vᵀ, B = U·diag(√(S/s)), and the base
 *    weight becomes the residual W − s·B·A, so the model computes the same thing at step 0.
 * Random draws come from the run's Rng.
 */
import type { Rng } from '../train/rng';
import { topSvd } from './svd';

export interface InitialFactors {
  a: Float32Array;
  b: Float32Array;
}

export function kaimingUniformA(r: number, inFeatures: number, rng: Rng): Float32Array {
  // gain = √(2 / (1 + a²)) with a = √5 → √(1/3); bound = √3 · gain / √fan_in = 1 / √fan_in.
  const bound = 1 / Math.sqrt(inFeatures);
  return rng.fillUniform(new Float32Array(r * inFeatures), -bound, bound);
}

export function defaultInit(r: number, inFeatures: number, outFeatures: number, rng: Rng): InitialFactors {
  return { a: kaimingUniformA(r, inFeatures, rng), b: new Float32Array(outFeatures * r) };
}

export function gaussianInit(r: number, inFeatures: number, outFeatures: number, rng: Rng): InitialFactors {
  return { a: rng.fillNormal(new Float32Array(r * inFeatures), 0, 1 / r), b: new Float32Array(outFeatures * r) };
}

/** PiSSA factors of `weight` ([out, in] row-major); the caller replaces W by W − scale·B·A. */
export function pissaInit(weight: Float32Array, r: number, inFeatures: number, outFeatures: number, scale: number, rng: Rng): InitialFactors {
  const { u, s, vt } = topSvd(weight, outFeatures, inFeatures, r, rng);
  const root = Float32Array.from(s, (v) => Math.sqrt(v / scale));
  const a = new Float32Array(r * inFeatures);
  for (let i = 0; i < r; i++) for (let j = 0; j < inFeatures; j++) a[i * inFeatures + j] = root[i] * vt[i * inFeatures + j];
  const b = new Float32Array(outFeatures * r);
  for (let i = 0; i < outFeatures; i++) for (let j = 0; j < r; j++) b[i * r + j] = u[i * r + j] * root[j];
  return { a, b };
}
