/** Training checkpoints of runs (table checkpoints); the files live in the run's folder. */
import type { DB } from '../db';
import { nowIso } from '../db';

export interface CheckpointRecord {
  id: number;
  runId: number;
  step: number;
  path: string;
  createdAt: string;
}

interface Row {
  id: number;
  run_id: number;
  step: number;
  path: string;
  created_at: string;
}

const toRecord = (r: Row): CheckpointRecord => ({ id: r.id, runId: r.run_id, step: r.step, path: r.path, createdAt: r.created_at });

export function createCheckpointsRepo(db: DB) {
  const upsert = db.prepare(
    `INSERT INTO checkpoints (run_id, step, path, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(run_id, step) DO UPDATE SET path = excluded.path, created_at = excluded.created_at`,
  );
  const byRunStep = db.prepare<[number, number], Row>('SELECT * FROM checkpoints WHERE run_id = ? AND step = ?');
  const byRun = db.prepare<[number], Row>('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step');
  const byId = db.prepare<[number], Row>('SELECT * FROM checkpoints WHERE id = ?');
  return {
    record(runId: number, step: number, path: string): CheckpointRecord {
      upsert.run(runId, step, path, nowIso());
      return toRecord(byRunStep.get(runId, step)!);
    },
    list(runId: number): CheckpointRecord[] {
      return byRun.all(runId).map(toRecord);
    },
    get(id: number): CheckpointRecord | undefined {
      const r = byId.get(id);
      return r ? toRecord(r) : undefined;
    },
    latest(runId: number): CheckpointRecord | undefined {
      const all = byRun.all(runId);
      return all.length ? toRecord(all[all.length - 1]) : undefined;
    },
  };
}

export type CheckpointsRepo = ReturnType<typeof createCheckpointsRepo>;
