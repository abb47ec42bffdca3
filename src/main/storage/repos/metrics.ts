/**
 * Per-step metrics of runs (table metrics: run, name, step → value). Written in batches inside one
 * transaction; a step written again (a resumed run replaying it) replaces the old value.
 */
import type { DB } from '../db';

export interface MetricRow {
  name: string;
  step: number;
  value: number;
}

export function createMetricsRepo(db: DB) {
  const put = db.prepare('INSERT OR REPLACE INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)');
  const insertMany = db.transaction((runId: number, rows: MetricRow[]) => {
    for (const r of rows) put.run(runId, r.name, r.step, r.value);
  });
  const since = db.prepare<[number, number], MetricRow>('SELECT name, step, value FROM metrics WHERE run_id = ? AND step >= ? ORDER BY name, step');
  const last = db.prepare<[number, string], MetricRow>('SELECT name, step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step DESC LIMIT 1');
  const dropAfter = db.prepare('DELETE FROM metrics WHERE run_id = ? AND step > ?');
  return {
    insert(runId: number, rows: MetricRow[]): void {
      if (rows.length) insertMany(runId, rows);
    },
    list(runId: number, sinceStep = 0): MetricRow[] {
      return since.all(runId, sinceStep);
    },
    last(runId: number, name: string): MetricRow | undefined {
      return last.get(runId, name);
    },
    /** Forget what came after a checkpoint the run is resumed from. */
    deleteAfter(runId: number, step: number): void {
      dropAfter.run(runId, step);
    },
  };
}

export type MetricsRepo = ReturnType<typeof createMetricsRepo>;
