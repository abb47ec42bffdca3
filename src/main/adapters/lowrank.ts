/**
 * The SVD of a LoRA update ΔW = s·B·A (B [out, r], A [r, in]) without forming the out×in matrix.
 *
 *   B  = Q_B · R_B          (thin QR, Q_B [out, k₁], R_B [k₁, r])
 *   Aᵀ = Q_A · R_A          (thin QR, Q_A [in, k₂],  R_A [k₂, r])
 *   ΔW = Q_B · (s·R_B·R_Aᵀ) · Q_Aᵀ,   and the core C = s·R_B·R_Aᵀ is at most r×r
 *   C  = U_C · Σ · V_Cᵀ   ⇒   ΔW = (Q_B·U_C) · Σ · (Q_A·V_C)ᵀ
 *
 * Cost O((out + in)·r²) instead of O(out·in·r). Used by the spectrum view, resize and combine.
 */
import { fromArray, matmul, matmulTransB, qr, scale, svd, transpose, type Mat } from './linalg';

export interface LowRankSvd {
  /** [out, k] */
  u: Mat;
  /** [k] descending, k = min(out, in, r) */
  s: Float64Array;
  /** [in, k] */
  v: Mat;
}

/**
 * Singular values (and, with `vectors`, the singular vectors) of s·B·A.
 * `b` is [out, r] and `a` is [r, in], row-major as PEFT stores lora_B / lora_A.
 */
export function lowRankSvd(b: ArrayLike<number>, a: ArrayLike<number>, out: number, r: number, inF: number, s: number, vectors = true): LowRankSvd {
  const { q: qb, r: rb } = qr(fromArray(b, out, r)); // qb [out, k1], rb [k1, r]
  const { q: qa, r: ra } = qr(transpose(fromArray(a, r, inF))); // qa [in, k2], ra [k2, r]
  const core = scale(matmulTransB(rb, ra), s); // [k1, k2]
  const d = svd(core); // d.u [k1, k], d.v [k2, k]
  if (!vectors) return { u: d.u, s: d.s, v: d.v };
  return { u: matmul(qb, d.u), s: d.s, v: matmul(qa, d.v) };
}

/** Fraction of ‖ΔW‖²_F captured by the top-k singular values, for k = 1..n. */
export function cumulativeEnergy(s: ArrayLike<number>): number[] {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += s[i] * s[i];
  const out: number[] = [];
  let acc = 0;
  for (let i = 0; i < s.length; i++) {
    acc += s[i] * s[i];
    out.push(total > 0 ? acc / total : 0);
  }
  return out;
}

/**
 * Effective rank (Roy & Vetterli 2007): exp of the Shannon entropy of the normalised singular
 * values. Equals k when k values are equal and the rest zero; 0 for a zero update.
 */
export function effectiveRank(s: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  if (!(sum > 0)) return 0;
  let h = 0;
  for (let i = 0; i < s.length; i++) {
    const p = s[i] / sum;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** Smallest k whose top-k singular values hold at least `fraction` of the energy. */
export function rankForEnergy(s: ArrayLike<number>, fraction: number): number {
  const e = cumulativeEnergy(s);
  if (e.length === 0 || e[e.length - 1] === 0) return 0;
  const i = e.findIndex((x) => x >= fraction - 1e-12);
  return i === -1 ? e.length : i + 1;
}
