/** The run page's metric history: stored history + live events merged without duplicates or gaps. */
import { describe, expect, it } from 'vitest';
import type { EvalEvent, StepEvent } from '../../src/shared/contract';
import { MetricSeries, RunMetricsLog } from '../../src/renderer/src/components/runs/metric-series';

const step = (n: number, loss = 10 - n / 10): StepEvent => ({
  runId: 1,
  step: n,
  totalSteps: 100,
  epoch: n / 50,
  loss,
  lr: 1e-4,
  gradNorm: 1,
  tokensPerSecond: 500,
  elapsedMs: n * 100,
  etaMs: (100 - n) * 100,
  memory: { rssBytes: 1, tensorBytes: 1, peakBytes: 1 },
});
const evalAt = (n: number, loss: number): EvalEvent => ({ runId: 1, step: n, evalLoss: loss, perplexity: Math.exp(loss), improved: true });
const history = (upTo: number) => ({
  loss: Array.from({ length: upTo }, (_, i) => ({ step: i + 1, value: 10 - (i + 1) / 10 })),
  eval_loss: [{ step: 5, value: 9 }],
});

describe('MetricSeries', () => {
  it('appends, replaces a repeated step and cuts back on an earlier one', () => {
    const s = new MetricSeries();
    for (const [x, y] of [[1, 5], [2, 4], [3, 3], [3, 2.5]]) s.put(x, y);
    expect([s.steps, s.values]).toEqual([[1, 2, 3], [5, 4, 2.5]]);
    s.put(2, 7);
    expect([s.steps, s.values]).toEqual([[1, 2], [5, 7]]);
    s.cutFrom(0);
    expect(s.length).toBe(0);
  });
});

describe('RunMetricsLog', () => {
  it('re-attaches: events held while the history loads are not doubled', () => {
    const log = new RunMetricsLog();
    // Events arrive before the history: steps 7 and 8 are already stored by the time it loads, 9 is not.
    expect(log.step(step(7))).toBe(false);
    log.step(step(8));
    log.step(step(9));
    log.eval(evalAt(5, 9));
    log.load(history(8));
    const loss = log.get('loss');
    expect(loss.steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(log.get('eval_loss').steps).toEqual([5]);
    expect(log.get('lr').steps).toEqual([9]);
    // Live from here on; a duplicate delivery changes nothing.
    log.step(step(10));
    log.step(step(10));
    expect(loss.steps.slice(-2)).toEqual([9, 10]);
  });

  it('a resumed run rewinds every series to the checkpoint it continues from', () => {
    const log = new RunMetricsLog();
    log.load(history(20));
    log.eval(evalAt(10, 8.5));
    log.eval(evalAt(20, 8));
    log.step(step(11, 1.23));
    expect(log.get('loss').steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(log.get('loss').last).toBe(1.23);
    expect(log.get('eval_loss').steps).toEqual([5, 10]);
  });

  it('keeps 100k points in order as live steps append', () => {
    const log = new RunMetricsLog();
    log.load({ loss: Array.from({ length: 100_000 }, (_, i) => ({ step: i + 1, value: 1 / (i + 1) })) });
    for (let i = 100_001; i <= 101_000; i++) log.step(step(i));
    expect(log.get('loss').length).toBe(101_000);
    expect(log.get('loss').steps[100_000]).toBe(100_001);
    expect(log.get('loss').steps.at(-1)).toBe(101_000);
  });
});
