import { describe, expect, it } from 'vitest';
import { alignSeries, positiveOnly, tickLabels } from '../../src/renderer/src/components/charts/chart-data';
import { emaSmooth } from '../../src/renderer/src/components/charts/smoothing';

describe('EMA smoothing', () => {
  it('is the identity at weight 0 and debiased at the start', () => {
    expect(emaSmooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
    // Debiased: a constant stays constant from the first point (no pull towards 0).
    expect(emaSmooth([5, 5, 5, 5], 0.9).map((v) => Number(v!.toFixed(10)))).toEqual([5, 5, 5, 5]);
  });

  it('matches TensorBoard’s formula and skips gaps', () => {
    const w = 0.6;
    const out = emaSmooth([1, null, 3, Number.NaN, 2], w);
    const s1 = (1 - w) * 1;
    const s2 = w * s1 + (1 - w) * 3;
    const s3 = w * s2 + (1 - w) * 2;
    expect(out[0]).toBeCloseTo(s1 / (1 - w), 12);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeCloseTo(s2 / (1 - w ** 2), 12);
    expect(out[3]).toBeNull();
    expect(out[4]).toBeCloseTo(s3 / (1 - w ** 3), 12);
  });

  it('smooths 100k points: one output per input, a noisy constant pulled towards its mean', () => {
    // (Speed is not asserted here: timed tests are flaky on a shared CPU.)
    const values = Array.from({ length: 100_000 }, (_, i) => Math.sin(i) + 2);
    const out = emaSmooth(values, 0.95);
    expect(out).toHaveLength(100_000);
    const tail = out.slice(-1000) as number[];
    expect(Math.max(...tail.map((v) => Math.abs(v - 2)))).toBeLessThan(0.1);
    expect(Math.max(...values.slice(-1000).map((v) => Math.abs(v - 2)))).toBeGreaterThan(0.9);
  });
});

describe('aligning series on one x axis', () => {
  it('merges different steps with nulls where a series has no point', () => {
    const a = { steps: [1, 2, 3, 4], values: [4, 3, 2, 1] };
    const b = { steps: [2, 4, 6], values: [9, 8, 7] };
    expect(alignSeries([a, b])).toEqual({
      x: [1, 2, 3, 4, 6],
      ys: [
        [4, 3, 2, 1, null],
        [null, 9, null, 8, 7],
      ],
    });
    expect(alignSeries([a]).x).toEqual([1, 2, 3, 4]);
    expect(alignSeries([])).toEqual({ x: [], ys: [] });
  });

  it('drops non-positive values for log scales', () => {
    expect(positiveOnly([0, 1, -2, null, 3])).toEqual([null, 1, null, null, 3]);
  });
});

describe('axis labels', () => {
  it('never print two ticks the same', () => {
    expect(tickLabels([10.2715, 10.272, 10.2725])).toEqual(['10.2715', '10.2720', '10.2725']);
    expect(tickLabels([0, 0.5, 1, 1.5])).toEqual(['0', '0.5', '1.0', '1.5']);
    expect(tickLabels([100, 200, 300])).toEqual(['100', '200', '300']);
    expect(tickLabels([10.325, 10.35, 10.375])).toEqual(['10.325', '10.350', '10.375']);
    expect(tickLabels([2e-5, 4e-5, null])).toEqual(['2.0e-5', '4.0e-5', '']);
  });
});
