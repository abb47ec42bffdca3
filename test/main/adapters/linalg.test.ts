import { describe, expect, it } from 'vitest';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { fromArray, matmul, matmulTransB, qr, svd, transpose, zeros, type Mat } from '../../../src/main/adapters/linalg';
import { cumulativeEnergy, effectiveRank, lowRankSvd, rankForEnergy } from '../../../src/main/adapters/lowrank';

/** Deterministic pseudo-random numbers (mulberry32) so failures replay. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function random(rows: number, cols: number, seed: number): Mat {
  const r = rng(seed);
  const m = zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = r();
  return m;
}

function maxAbsDiff(a: Mat, b: Mat): number {
  expect([a.rows, a.cols]).toEqual([b.rows, b.cols]);
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

function diagTimes(u: Mat, s: Float64Array): Mat {
  const out = zeros(u.rows, u.cols);
  for (let i = 0; i < u.rows; i++) for (let j = 0; j < u.cols; j++) out.data[i * u.cols + j] = u.data[i * u.cols + j] * s[j];
  return out;
}

function expectOrthonormalColumns(q: Mat, tol = 1e-12): void {
  const g = matmul(transpose(q), q);
  for (let i = 0; i < g.rows; i++) for (let j = 0; j < g.cols; j++) expect(Math.abs(g.data[i * g.cols + j] - (i === j ? 1 : 0))).toBeLessThan(tol);
}

describe('qr', () => {
  for (const [m, n] of [
    [7, 3],
    [3, 7],
    [5, 5],
    [40, 8],
  ]) {
    it(`factors a ${m}×${n} matrix into orthonormal Q and upper-triangular R`, () => {
      const a = random(m, n, m * 31 + n);
      const { q, r } = qr(a);
      const k = Math.min(m, n);
      expect([q.rows, q.cols, r.rows, r.cols]).toEqual([m, k, k, n]);
      expectOrthonormalColumns(q);
      for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) expect(r.data[i * n + j]).toBe(0);
      expect(maxAbsDiff(matmul(q, r), a)).toBeLessThan(1e-12);
    });
  }

  it('handles a zero column', () => {
    const a = random(6, 3, 4);
    for (let i = 0; i < 6; i++) a.data[i * 3 + 1] = 0;
    const { q, r } = qr(a);
    expect(maxAbsDiff(matmul(q, r), a)).toBeLessThan(1e-12);
  });
});

describe('svd (one-sided Jacobi)', () => {
  for (const [m, n] of [
    [9, 4],
    [4, 9],
    [16, 16],
    [1, 5],
  ]) {
    it(`matches ml-matrix on a ${m}×${n} matrix and reconstructs it`, () => {
      const a = random(m, n, 1000 + m * n);
      const d = svd(a);
      const ref = new SingularValueDecomposition(new Matrix(Array.from({ length: m }, (_, i) => Array.from(a.data.slice(i * n, (i + 1) * n)))), {
        autoTranspose: true,
      });
      const k = Math.min(m, n);
      expect(d.s.length).toBe(k);
      for (let i = 0; i < k; i++) expect(d.s[i]).toBeCloseTo(ref.diagonal[i], 12);
      for (let i = 1; i < k; i++) expect(d.s[i]).toBeLessThanOrEqual(d.s[i - 1]);
      expectOrthonormalColumns(d.u);
      expectOrthonormalColumns(d.v);
      expect(maxAbsDiff(matmulTransB(diagTimes(d.u, d.s), d.v), a)).toBeLessThan(1e-12);
    });
  }

  it('finds exact zeros for a rank-deficient matrix', () => {
    const left = random(8, 2, 7);
    const right = random(2, 6, 8);
    const d = svd(matmul(left, right)); // rank 2
    expect(d.s[1]).toBeGreaterThan(1e-3);
    for (let i = 2; i < d.s.length; i++) expect(d.s[i]).toBeLessThan(1e-13);
  });

  it('is exact on a diagonal matrix with known values', () => {
    const a = fromArray([0, 3, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0.5], 3, 4);
    expect(Array.from(svd(a).s)).toEqual([5, 3, 0.5]);
  });
});

describe('lowRankSvd of s·B·A', () => {
  it('equals the SVD of the dense ΔW', () => {
    const out = 30;
    const inF = 20;
    const r = 6;
    const b = random(out, r, 11);
    const a = random(r, inF, 12);
    const s = 2.5;
    const dense = matmul(b, a);
    for (let i = 0; i < dense.data.length; i++) dense.data[i] *= s;
    const ref = svd(dense);
    const low = lowRankSvd(b.data, a.data, out, r, inF, s);
    expect(low.s.length).toBe(r);
    for (let i = 0; i < r; i++) expect(low.s[i]).toBeCloseTo(ref.s[i], 12);
    expect(maxAbsDiff(matmulTransB(diagTimes(low.u, low.s), low.v), dense)).toBeLessThan(1e-12);
  });

  it('handles a module narrower than the rank (out < r)', () => {
    const b = random(2, 8, 21);
    const a = random(8, 5, 22);
    const low = lowRankSvd(b.data, a.data, 2, 8, 5, 1);
    expect(low.s.length).toBe(2);
    expect(maxAbsDiff(matmulTransB(diagTimes(low.u, low.s), low.v), matmul(b, a))).toBeLessThan(1e-12);
  });
});

describe('energy and effective rank', () => {
  it('computes cumulative energy, energy ranks and the entropy effective rank', () => {
    expect(cumulativeEnergy([3, 4])).toEqual([9 / 25, 1]);
    expect(rankForEnergy([3, 4, 0], 0.9)).toBe(2);
    expect(rankForEnergy([10, 1, 1], 0.9)).toBe(1);
    expect(effectiveRank([2, 2, 2, 0])).toBeCloseTo(3, 12);
    expect(effectiveRank([1, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveRank([0, 0])).toBe(0);
  });
});
