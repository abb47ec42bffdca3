/**
 * Small dense linear algebra in Float64 for adapter analysis: Householder QR and a one-sided
 * Jacobi SVD. The matrices here are LoRA factors and their r×r cores (r up to a few hundred), so
 * clarity and accuracy matter more than speed: one-sided Jacobi computes small singular values to
 * high relative accuracy, which a rank/energy table depends on.
 *
 * Matrices are row-major `{ rows, cols, data }`. Leaves out: pivoting, blocking, complex numbers.
 */

export interface Mat {
  rows: number;
  cols: number;
  /** row-major, length rows·cols */
  data: Float64Array;
}

export function zeros(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function fromArray(data: ArrayLike<number>, rows: number, cols: number): Mat {
  if (data.length !== rows * cols) throw new Error(`matrix data has ${data.length} values, [${rows}, ${cols}] needs ${rows * cols}`);
  return { rows, cols, data: Float64Array.from(data) };
}

export function identity(n: number): Mat {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function transpose(a: Mat): Mat {
  const t = zeros(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t.data[j * a.rows + i] = a.data[i * a.cols + j];
  return t;
}

/** a [m, k] · b [k, n] → [m, n] */
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: [${a.rows}, ${a.cols}] · [${b.rows}, ${b.cols}] do not chain`);
  const out = zeros(a.rows, b.cols);
  const n = b.cols;
  for (let i = 0; i < a.rows; i++) {
    const orow = i * n;
    for (let p = 0; p < a.cols; p++) {
      const v = a.data[i * a.cols + p];
      if (v === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out.data[orow + j] += v * b.data[brow + j];
    }
  }
  return out;
}

/** a [m, k] · bᵀ where b is [n, k] → [m, n] */
export function matmulTransB(a: Mat, b: Mat): Mat {
  if (a.cols !== b.cols) throw new Error(`matmulTransB: [${a.rows}, ${a.cols}] · [${b.rows}, ${b.cols}]ᵀ do not chain`);
  const out = zeros(a.rows, b.rows);
  const k = a.cols;
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < b.rows; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p] * b.data[j * k + p];
      out.data[i * b.rows + j] = s;
    }
  }
  return out;
}

export function scale(a: Mat, s: number): Mat {
  const out = zeros(a.rows, a.cols);
  for (let i = 0; i < a.data.length; i++) out.data[i] = a.data[i] * s;
  return out;
}

export function frobeniusNorm(a: Mat): number {
  let s = 0;
  for (const v of a.data) s += v * v;
  return Math.sqrt(s);
}

/** Columns [from, to) of a. */
export function columns(a: Mat, from: number, to: number): Mat {
  const out = zeros(a.rows, to - from);
  for (let i = 0; i < a.rows; i++) for (let j = from; j < to; j++) out.data[i * out.cols + j - from] = a.data[i * a.cols + j];
  return out;
}

/** Rows [from, to) of a. */
export function rowsOf(a: Mat, from: number, to: number): Mat {
  return { rows: to - from, cols: a.cols, data: a.data.slice(from * a.cols, to * a.cols) };
}

// ---- QR ---------------------------------------------------------------------------------------

/**
 * Thin Householder QR: a [m, n] = q [m, k] · r [k, n] with k = min(m, n), q's columns orthonormal,
 * r upper triangular (trapezoidal when n > m).
 */
export function qr(a: Mat): { q: Mat; r: Mat } {
  const m = a.rows;
  const n = a.cols;
  const k = Math.min(m, n);
  const w = Float64Array.from(a.data); // becomes R in its upper triangle
  const vs: Float64Array[] = [];
  const betas: number[] = [];
  const dots = new Float64Array(n);

  for (let j = 0; j < k; j++) {
    let norm2 = 0;
    for (let i = j; i < m; i++) norm2 += w[i * n + j] ** 2;
    const norm = Math.sqrt(norm2);
    const v = new Float64Array(m - j);
    if (norm === 0) {
      vs.push(v);
      betas.push(0);
      continue;
    }
    const x0 = w[j * n + j];
    const alpha = x0 >= 0 ? -norm : norm; // sign chosen so v0 = x0 - alpha does not cancel
    for (let i = j; i < m; i++) v[i - j] = w[i * n + j];
    v[0] = x0 - alpha;
    let vnorm2 = 0;
    for (const x of v) vnorm2 += x * x;
    const beta = 2 / vnorm2;
    // R[j:, j:] -= beta · v · (vᵀ R[j:, j:]), row by row so memory is read contiguously.
    dots.fill(0, j, n);
    for (let i = j; i < m; i++) {
      const vi = v[i - j];
      if (vi === 0) continue;
      for (let c = j; c < n; c++) dots[c] += vi * w[i * n + c];
    }
    for (let i = j; i < m; i++) {
      const f = beta * v[i - j];
      if (f === 0) continue;
      for (let c = j; c < n; c++) w[i * n + c] -= f * dots[c];
    }
    vs.push(v);
    betas.push(beta);
  }

  const r = zeros(k, n);
  for (let i = 0; i < k; i++) for (let c = i; c < n; c++) r.data[i * n + c] = w[i * n + c];

  // Q = H_0 · H_1 ⋯ H_{k-1} · I[:, :k], applied right to left.
  const q = zeros(m, k);
  for (let i = 0; i < k; i++) q.data[i * k + i] = 1;
  const qd = new Float64Array(k);
  for (let j = k - 1; j >= 0; j--) {
    const v = vs[j];
    const beta = betas[j];
    if (beta === 0) continue;
    qd.fill(0);
    for (let i = j; i < m; i++) {
      const vi = v[i - j];
      if (vi === 0) continue;
      for (let c = 0; c < k; c++) qd[c] += vi * q.data[i * k + c];
    }
    for (let i = j; i < m; i++) {
      const f = beta * v[i - j];
      if (f === 0) continue;
      for (let c = 0; c < k; c++) q.data[i * k + c] -= f * qd[c];
    }
  }
  return { q, r };
}

// ---- SVD --------------------------------------------------------------------------------------

export interface Svd {
  /** [m, k] orthonormal columns (a column is zero where its singular value is exactly 0) */
  u: Mat;
  /** [k], descending, k = min(m, n) */
  s: Float64Array;
  /** [n, k] orthonormal columns */
  v: Mat;
}

const MAX_SWEEPS = 60;

/**
 * a [m, n] = u · diag(s) · vᵀ by one-sided Jacobi (Hestenes 1958; Demmel & Veselić 1992):
 * rotate pairs of columns until all are orthogonal; the column norms are then the singular values.
 */
export function svd(a: Mat): Svd {
  if (a.rows < a.cols) {
    const t = svd(transpose(a));
    return { u: t.v, s: t.s, v: t.u };
  }
  const m = a.rows;
  const n = a.cols;
  // Work on columns as contiguous rows: uc[j] = column j of A, vc[j] = column j of V.
  const uc = transpose(a).data; // [n, m]
  const vc = identity(n).data; // [n, n]
  const eps = 1e-15;

  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        const po = p * m;
        const qo = q * m;
        for (let i = 0; i < m; i++) {
          const x = uc[po + i];
          const y = uc[qo + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = uc[po + i];
          const y = uc[qo + i];
          uc[po + i] = c * x - s * y;
          uc[qo + i] = s * x + c * y;
        }
        const pv = p * n;
        const qv = q * n;
        for (let i = 0; i < n; i++) {
          const x = vc[pv + i];
          const y = vc[qv + i];
          vc[pv + i] = c * x - s * y;
          vc[qv + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }

  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += uc[j * m + i] ** 2;
    norms[j] = Math.sqrt(s);
  }
  const order = [...norms.keys()].sort((x, y) => norms[y] - norms[x]);
  const u = zeros(m, n);
  const v = zeros(n, n);
  const s = new Float64Array(n);
  order.forEach((j, col) => {
    s[col] = norms[j];
    const inv = norms[j] > 0 ? 1 / norms[j] : 0;
    for (let i = 0; i < m; i++) u.data[i * n + col] = uc[j * m + i] * inv;
    for (let i = 0; i < n; i++) v.data[i * n + col] = vc[j * n + i];
  });
  return { u, s, v };
}
