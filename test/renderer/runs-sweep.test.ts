/** Finding rank sweeps in the run history and their points. */
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/shared/contract';
import { accuracyOf, measureOf, sweepGroups, sweepMeasure, sweepPoint } from '../../src/renderer/src/components/runs/sweep';

const run = (id: number, name: string, extra: Partial<RunSummary> = {}): RunSummary => ({
  id,
  name,
  status: 'completed',
  modelId: 1,
  datasetVersionId: 1,
  backend: 'cpu',
  error: null,
  createdAt: '2026-11-28T10:00:00Z',
  startedAt: '2026-11-28T10:00:00Z',
  finishedAt: '2026-11-28T10:01:30Z',
  step: 10,
  totalSteps: 10,
  lastLoss: 1,
  lastEvalLoss: 1.5,
  adapterId: null,
  trainableParams: 1000 * id,
  ...extra,
});

describe('rank sweeps', () => {
  it('groups runs by a sweep tag, or by a name that differs only in its rank', () => {
    // learn-starter.ts --sweep names its runs `starter-task r=1` … `starter-task r=16`.
    const runs = [
      run(1, 'starter-task r=1'),
      run(2, 'starter-task r=2'),
      run(3, 'baseline'),
      run(4, 'x'),
      run(5, 'y'),
      run(6, 'lonely r4'),
      run(7, 'same r8'),
      run(8, 'same r8'),
    ];
    const groups = sweepGroups(runs, { 4: { id: 4, notes: '', tags: ['rank-sweep'] }, 5: { id: 5, notes: '', tags: ['rank-sweep', 'other'] } });
    expect(groups).toEqual([
      { key: 'tag:rank-sweep', label: 'rank-sweep', runIds: [4, 5] },
      { key: 'name:starter-task', label: 'starter-task', runIds: [1, 2] },
    ]);
  });

  it('plots the best measure every run has', () => {
    const a = sweepPoint(run(1, 'a r=1'), 1, { accuracy: [{ step: 9, value: 0.9 }] });
    const b = sweepPoint(run(2, 'a r=2', { lastEvalLoss: null }), 2, {});
    expect(sweepMeasure([a])).toBe('accuracy');
    expect(sweepMeasure([a, b])).toBe('loss');
    expect(measureOf(b, 'loss')).toBe(1);
  });

  it('takes the recorded accuracy, else the best eval loss, with params and time', () => {
    expect(accuracyOf({ accuracy: [{ step: 5, value: 0.4 }, { step: 10, value: 0.93 }] })).toBe(0.93);
    expect(accuracyOf({ eval_exact_match: [{ step: 10, value: 0.5 }] })).toBe(0.5);
    expect(accuracyOf({ loss: [{ step: 1, value: 2 }] })).toBeNull();
    const p = sweepPoint(run(2, 'r2'), 2, { eval_loss: [{ step: 5, value: 1.2 }, { step: 10, value: 1.4 }] });
    expect(p).toMatchObject({ rank: 2, accuracy: null, bestEvalLoss: 1.2, trainableParams: 2000, durationMs: 90_000 });
  });
});
