/**
 * Rank sweeps in the run history: runs that differ in r, trained to see how r matters.
 * A sweep is either the runs sharing a tag that contains "sweep" (e.g. `rank-sweep`), or runs
 * whose names are the same but for a trailing rank, e.g. scripts/learn-starter.ts --sweep's
 * `starter-task r=1` … `starter-task r=16` (at least two different ranks). Each point is one run:
 * its r, its held-out accuracy when the run recorded one as a metric, else its best eval loss,
 * else its last training loss; its trainable parameters and how long it took.
 */
import type { RunAnnotation, RunMetrics, RunSummary } from '../../../../shared/contract';

export interface SweepGroup {
  key: string;
  label: string;
  runIds: number[];
}

/** Metric names a run may record its held-out accuracy under (0..1). */
export const ACCURACY_METRICS = ['accuracy', 'eval_accuracy', 'exact_match', 'eval_exact_match'];

/** A trailing rank in a run name: "… r=8", "… r8", "… · r 16". */
const RANK_SUFFIX = /[\s·:_-]*\br\s*=?\s*(\d+)\s*$/i;

export function sweepGroups(runs: readonly RunSummary[], annotations: Readonly<Record<number, RunAnnotation>>): SweepGroup[] {
  const groups = new Map<string, SweepGroup>();
  const add = (key: string, label: string, id: number) => {
    const g = groups.get(key) ?? { key, label, runIds: [] };
    if (!g.runIds.includes(id)) g.runIds.push(id);
    groups.set(key, g);
  };
  const namedRanks = new Map<string, Set<number>>();
  for (const r of runs) {
    const tags = annotations[r.id]?.tags ?? [];
    for (const t of tags) if (/sweep/i.test(t)) add(`tag:${t}`, t, r.id);
    const m = RANK_SUFFIX.exec(r.name);
    if (m && !tags.some((t) => /sweep/i.test(t))) {
      const base = r.name.slice(0, m.index).trim();
      if (!base) continue;
      add(`name:${base}`, base, r.id);
      namedRanks.set(base, (namedRanks.get(base) ?? new Set()).add(Number(m[1])));
    }
  }
  return [...groups.values()]
    .filter((g) => g.runIds.length >= 2 && (!g.key.startsWith('name:') || (namedRanks.get(g.label)?.size ?? 0) >= 2))
    .sort((a, b) => Math.max(...b.runIds) - Math.max(...a.runIds));
}

export interface SweepPoint {
  runId: number;
  name: string;
  rank: number;
  /** Held-out accuracy 0..1, when the run recorded one. */
  accuracy: number | null;
  bestEvalLoss: number | null;
  lastLoss: number | null;
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
    lastLoss: r.lastLoss,
    trainableParams: r.trainableParams,
    durationMs: r.startedAt && r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null,
    status: r.status,
  };
}

export type SweepMeasure = 'accuracy' | 'evalLoss' | 'loss';

/** The best measure every point of the sweep has: accuracy, else eval loss, else training loss. */
export function sweepMeasure(points: readonly SweepPoint[]): SweepMeasure {
  if (points.length && points.every((p) => p.accuracy !== null)) return 'accuracy';
  if (points.length && points.every((p) => p.bestEvalLoss !== null)) return 'evalLoss';
  return 'loss';
}

export function measureOf(p: SweepPoint, m: SweepMeasure): number | null {
  return m === 'accuracy' ? p.accuracy : m === 'evalLoss' ? p.bestEvalLoss : p.lastLoss;
}
