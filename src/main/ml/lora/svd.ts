/**
 * The top-r singular triplets of a weight matrix, for PiSSA.
 *
 * Small matrices get ml-matrix's exact SVD. Larger ones use the randomized range finder of Halko,
 * Martinsson & Tropp (2011, alg. 4.4 with subspace iteration): the heavy products run on tfjs, the
 * small QR and SVD on ml-matrix. PiSSA's "output unchanged at step 0" does not depend on this
 * accuracy (the residual is W − s·B·A whatever B and A are); the quality of the start does.
 */
import * as tf from '@tensorflow/tfjs';
import { Matrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';
import type { Rng } from '../train/rng';

export interface TopSvd {
  /** [m, r] row-major */
  u: Float32Array;
  /** [r] descending */
  s: Float32Array;
  /** Vᵀ [r, n] row-major */
  vt: Float32Array;
}

const EXACT_LIMIT = 256;
const OVERSAMPLE = 10;
const POWER_ITERATIONS = 4;

function toMatrix(data: Float32Array | Float64Array, rows: number, cols: number): Matrix {
  const m = new Matrix(rows, cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, data[i * cols + j]);
  return m;
}

function fromMatrix(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.columns);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.columns; j++) out[i * m.columns + j] = m.get(i, j);
  return out;
}

function orthonormalColumns(m: Matrix): Matrix {
  return new QrDecomposition(m).orthogonalMatrix.subMatrix(0, m.rows - 1, 0, m.columns - 1);
}

/** Top-`r` SVD of `w` ([m, n] row-major). */
export function topSvd(w: Float32Array, m: number, n: number, r: number, rng: Rng): TopSvd {
  if (r > Math.min(m, n)) throw new Error(`PiSSA: rank ${r} exceeds the matrix's smaller side (${m}×${n})`);
  let small: SingularValueDecomposition;
  let q: Matrix | null = null;
  if (Math.min(m, n) <= EXACT_LIMIT) {
    small = new SingularValueDecomposition(toMatrix(w, m, n), { autoTranspose: true });
  } else {
    const k = Math.min(r + OVERSAMPLE, m, n);
    const W = tf.tensor2d(w, [m, n]);
    try {
      const omega = rng.fillNormal(new Float32Array(n * k), 0, 1);
      const product = (a: Float32Array, rows: number, transposeW: boolean): Matrix => {
        const y = tf.tidy(() => tf.matMul(W, tf.tensor2d(a, [rows, k]), transposeW, false)); // [m|n, k]
        const data = y.dataSync() as Float32Array;
        y.dispose();
        return toMatrix(data, transposeW ? n : m, k);
      };
      q = orthonormalColumns(product(omega, n, false)); // [m, k]
      for (let i = 0; i < POWER_ITERATIONS; i++) {
        const z = orthonormalColumns(product(fromMatrix(q), m, true)); // [n, k]
        q = orthonormalColumns(product(fromMatrix(z), n, false)); // [m, k]
      }
      const qtw = tf.tidy(() => tf.matMul(tf.tensor2d(fromMatrix(q as Matrix), [m, k]), W, true, false).dataSync() as Float32Array); // [k, n]
      small = new SingularValueDecomposition(toMatrix(qtw, k, n), { autoTranspose: true });
    } finally {
      W.dispose();
    }
  }
  let U = small.leftSingularVectors.subMatrix(0, small.leftSingularVectors.rows - 1, 0, r - 1);
  if (q) U = q.mmul(U); // [m, r]
  const V = small.rightSingularVectors.subMatrix(0, n - 1, 0, r - 1); // [n, r]
  return {
    u: fromMatrix(U),
    s: Float32Array.from(small.diagonal.slice(0, r)),
    vt: fromMatrix(V.transpose()),
  };
}
