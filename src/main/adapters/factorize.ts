/**
 * Turning a truncated SVD of ΔW back into LoRA factors at a chosen scale s:
 *
 *   ΔW ≈ U_k·Σ_k·V_kᵀ = s·B'·A'   with  B' = U_k·√(Σ_k/s)  [out, k],  A' = √(Σ_k/s)·V_kᵀ  [k, in]
 *
 * Splitting √Σ between the two factors keeps them balanced (equal norms), the state PEFT-trained
 * factors are usually in, so a resized adapter can be trained further.
 */
import type { LowRankSvd } from './lowrank';

export function factorsFromSvd(d: LowRankSvd, k: number, scale: number): { a: Float32Array; b: Float32Array } {
  const out = d.u.rows;
  const inF = d.v.rows;
  const kk = d.u.cols;
  const b = new Float32Array(out * k);
  const a = new Float32Array(k * inF);
  for (let j = 0; j < k; j++) {
    const f = j < d.s.length ? Math.sqrt(d.s[j] / scale) : 0;
    for (let i = 0; i < out; i++) b[i * k + j] = j < kk ? d.u.data[i * kk + j] * f : 0;
    for (let i = 0; i < inF; i++) a[j * inF + i] = j < kk ? d.v.data[i * kk + j] * f : 0;
  }
  return { a, b };
}
