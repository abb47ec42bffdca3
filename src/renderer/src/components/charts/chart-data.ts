/**
 * Series with their own steps, put on one shared x axis for uPlot (which wants one x array and
 * one y array per series of the same length, null where a series has no point). Runs compared
 * side by side, or loss beside eval loss (measured every N steps), have different steps.
 */
export interface XYSeries {
  steps: ArrayLike<number>;
  values: ArrayLike<number>;
}

export interface Aligned {
  x: number[];
  ys: (number | null)[][];
}

/** The union of every series' steps (each sorted ascending), and each series placed on it. */
export function alignSeries(series: readonly XYSeries[]): Aligned {
  if (series.length === 0) return { x: [], ys: [] };
  // One series (the common live case): nothing to merge.
  if (series.length === 1) return { x: Array.from(series[0].steps), ys: [Array.from(series[0].values)] };
  const x: number[] = [];
  const pos = series.map(() => 0);
  for (;;) {
    let next = Infinity;
    series.forEach((s, i) => {
      if (pos[i] < s.steps.length && s.steps[pos[i]] < next) next = s.steps[pos[i]];
    });
    if (next === Infinity) break;
    x.push(next);
    series.forEach((s, i) => {
      while (pos[i] < s.steps.length && s.steps[pos[i]] === next) pos[i]++;
    });
  }
  const ys = series.map((s) => {
    const y = new Array<number | null>(x.length).fill(null);
    let j = 0;
    for (let i = 0; i < s.steps.length; i++) {
      while (x[j] < s.steps[i]) j++;
      y[j] = s.values[i];
    }
    return y;
  });
  return { x, ys };
}

/** Log scales cannot place 0 or negative values: they become gaps. */
export function positiveOnly(values: readonly (number | null)[]): (number | null)[] {
  return values.map((v) => (v !== null && v > 0 ? v : null));
}

/**
 * Axis labels with as many decimals as the tick spacing needs, so close ticks never read the same
 * (10.2715, 10.2720, …); large and tiny magnitudes switch to exponent form.
 */
export function tickLabels(vals: readonly (number | null)[]): string[] {
  const nums = vals.filter((v): v is number => v !== null && Number.isFinite(v));
  let spacing = Infinity;
  for (let i = 1; i < nums.length; i++) spacing = Math.min(spacing, Math.abs(nums[i] - nums[i - 1]));
  const biggest = Math.max(0, ...nums.map(Math.abs));
  return vals.map((v) => {
    if (v === null || !Number.isFinite(v)) return '';
    if (v === 0) return '0';
    if (biggest >= 1e6 || (biggest < 1e-3 && biggest > 0)) {
      const digits = Number.isFinite(spacing) && spacing > 0 ? Math.max(0, Math.ceil(Math.log10(biggest / spacing))) : 2;
      return v.toExponential(Math.min(6, digits));
    }
    return v.toFixed(decimalsFor(spacing));
  });
}

/** Fewest decimals that write a multiple of `spacing` exactly (0.025 → 3, 0.5 → 1, 20 → 0). */
function decimalsFor(spacing: number): number {
  if (!Number.isFinite(spacing) || spacing <= 0) return 2;
  let d = Math.max(0, Math.ceil(-Math.log10(spacing) - 1e-9));
  while (d < 8) {
    const scaled = spacing * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) break;
    d++;
  }
  return d;
}
