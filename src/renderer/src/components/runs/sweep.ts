/**
 * Rank sweeps in the run history: runs that differ only in r, trained to see how r matters.
 * A sweep is a set of runs sharing a tag that contains "sweep" (e.g. `rank-sweep`,
 * `sweep:starter`), or sharing a name that contains "sweep" once its trailing rank (`r=8`, `r8`)
 * is taken off. Each point is one run: its r, its accuracy when the run recorded one (else its
 * best eval loss), its trainable parameters and how long it took.
 */
import type { RunAnnotation, RunMetrics, RunSummary } from '../../../../shared/contract';

export interface SweepGroup {
  key: string;
  label: string;
  runIds: number[];
}

/** Metric names a run may record its held-out accuracy under (0..1). */
export const ACCURACY_METRICS = ['accuracy', 'eval_accuracy', 'exact_match', 'eval_exact_match'];

const RANK_SUFFIX = /[\s·:_-]*\br\s*=?\s*\d+\s*$/i;

export function sweepGroups(runs: readonly RunSummary[], annotations: Readonly<Record<number, RunAnnotation>>): SweepGroup[] {
  const groups = new Map<string, SweepGroup>();
  const add = (key: string, label: string, id: number) => {
    const g = groups.get(key) ?? { key, label, runIds: [] };
    if (!g.runIds.includes(id)) g.runIds.push(id);
    groups.set(key, g);
  };
  for (const r of runs) {
    for (const t of annotations[r.id]?.tags ?? []) if (/sweep/i.test(t)) add(`tag:${t}`, t, r.id);
    if (/sweep/i.test(r.name)) {
      const base = r.name.replace(RANK_SUFFIX, '').trim();
      if (!(annotations[r.id]?.tags ?? []).some((t) => /sweep/i.test(t))) add(`name:${base}`, base, r.id);
    }
  }
  return [...groups.values()].filter((g) => g.runIds.length >= 2).sort((a, b) => Math.max(...b.runIds) - Math.max(...a.runIds));
}

export interface SweepPoint {
  runId: number;
  name: string;
  rank: number;
  /** Held-out accuracy 0..1, when the run recorded one. */
  accuracy: number | null;
  bestEvalLoss: number | null;
  trainableParams: number | null;
  durationMs: number | null;
  status: RunSummary['status'];
}

/** The last value of the first accuracy metric a run has. */
export function accuracyOf(metrics: RunMetrics): number | null {
  for (const name of ACCURACY_METRICS) {
    const pts = metrics[name];
    if (pts?.length) return pts[pts.length - 1].value;
  }
  return null;
}

export function sweepPoint(r: RunSummary, rank: number, metrics: RunMetrics): SweepPoint {
  const evals = (metrics.eval_loss ?? []).map((p) => p.value);
  return {
    runId: r.id,
    name: r.name,
    rank,
    accuracy: accuracyOf(metrics),
    bestEvalLoss: evals.length ? Math.min(...evals) : r.lastEvalLoss,
    trainableParams: r.trainableParams,
    durationMs: r.startedAt && r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null,
    status: r.status,
  };
}
