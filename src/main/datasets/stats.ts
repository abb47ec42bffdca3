/** Length statistics of a dataset: histogram, percentiles, and how much a max length cuts. */

export interface Histogram {
  bins: { from: number; to: number; count: number }[];
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
}

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Equal-width bins over [min, max] with integer edges; the last bin includes max. */
export function histogram(values: number[], binCount = 20): Histogram {
  if (values.length === 0) return { bins: [], min: 0, max: 0, mean: 0, p50: 0, p95: 0 };
  const sorted = Float64Array.from(values).sort();
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  const width = Math.max(1, Math.ceil((max - min + 1) / binCount));
  const n = Math.max(1, Math.ceil((max - min + 1) / width));
  const bins = Array.from({ length: n }, (_, i) => ({ from: min + i * width, to: min + (i + 1) * width, count: 0 }));
  let sum = 0;
  for (const v of values) {
    bins[Math.min(n - 1, Math.floor((v - min) / width))].count++;
    sum += v;
  }
  return { bins, min, max, mean: sum / values.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

/** Indices of an evenly spread sample of `limit` out of `total` rows (all of them when total ≤ limit). */
export function spreadSample(total: number, limit: number): (idx: number) => boolean {
  if (total <= limit) return () => true;
  const step = total / limit;
  const picked = new Set<number>();
  for (let k = 0; k < limit; k++) picked.add(Math.floor(k * step));
  return (idx) => picked.has(idx);
}
