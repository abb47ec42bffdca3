/**
 * Exponential moving average as TensorBoard draws it: `s_t = w·s_{t-1} + (1-w)·y_t`, divided by
 * `1 - w^t` so the start is not pulled towards 0 (the bias correction Adam uses too). Points that
 * are not finite (null, NaN, ±∞) pass through as null and do not disturb the average.
 *
 * `weight` 0 returns the values as they are; 0.99 averages over roughly the last 100 points.
 */
export function emaSmooth(values: ArrayLike<number | null>, weight: number): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  const out = new Array<number | null>(values.length);
  let last = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const y = values[i];
    if (y === null || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    if (w === 0) {
      out[i] = y;
      continue;
    }
    last = last * w + (1 - w) * y;
    seen++;
    out[i] = last / (1 - Math.pow(w, seen));
  }
  return out;
}
