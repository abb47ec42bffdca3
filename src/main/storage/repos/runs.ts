/** Training runs (table runs). config_json holds the run config exactly as given. */
import type { RunConfigParsed, RunEstimate, RunStatus } from '../../../shared/contract/runs';
import type { DB } from '../db';
import { nowIso } from '../db';

export interface RunRecord {
  id: number;
  name: string;
  modelId: number | null;
  datasetVersionId: number | null;
  parentAdapterId: number | null;
  config: RunConfigParsed;
  status: RunStatus;
  backend: string | null;
  template: string | null;
  error: string | null;
  notes: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  ownerPid: number | null;
  trainerPid: number | null;
  estimate: RunEstimate | null;
}

interface Row {
  id: number;
  name: string;
  model_id: number | null;
  dataset_version_id: number | null;
  parent_adapter_id: number | null;
  config_json: string;
  status: RunStatus;
  backend: string | null;
  template: string | null;
  error: string | null;
  notes: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  owner_pid: number | null;
  trainer_pid: number | null;
  estimate_json: string | null;
}

const toRecord = (r: Row): RunRecord => ({
  id: r.id,
  name: r.name,
  modelId: r.model_id,
  datasetVersionId: r.dataset_version_id,
  parentAdapterId: r.parent_adapter_id,
  config: JSON.parse(r.config_json) as RunConfigParsed,
  status: r.status,
  backend: r.backend,
  template: r.template,
  error: r.error,
  notes: r.notes,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  ownerPid: r.owner_pid,
  trainerPid: r.trainer_pid,
  estimate: r.estimate_json ? (JSON.parse(r.estimate_json) as RunEstimate) : null,
});

export interface NewRun {
  name: string;
  modelId: number | null;
  datasetVersionId: number | null;
  parentAdapterId: number | null;
  config: RunConfigParsed;
  template: string | null;
  ownerPid: number;
  estimate: RunEstimate | null;
}

export function createRunsRepo(db: DB) {
  const insert = db.prepare(
    `INSERT INTO runs (name, model_id, dataset_version_id, parent_adapter_id, config_json, status, template, created_at, owner_pid, estimate_json)
     VALUES (@name, @modelId, @datasetVersionId, @parentAdapterId, @config, 'queued', @template, @createdAt, @ownerPid, @estimate)`,
  );
  const byId = db.prepare<[number], Row>('SELECT * FROM runs WHERE id = ?');
  const all = db.prepare<[], Row>('SELECT * FROM runs ORDER BY id DESC');
  const byStatus = db.prepare<[string], Row>('SELECT * FROM runs WHERE status = ? ORDER BY id');
  return {
    create(r: NewRun): RunRecord {
      const info = insert.run({
        ...r,
        config: JSON.stringify(r.config),
        estimate: r.estimate ? JSON.stringify(r.estimate) : null,
        createdAt: nowIso(),
      });
      return this.get(Number(info.lastInsertRowid))!;
    },
    get(id: number): RunRecord | undefined {
      const row = byId.get(id);
      return row ? toRecord(row) : undefined;
    },
    list(status?: string): RunRecord[] {
      return (status ? byStatus.all(status) : all.all()).map(toRecord);
    },
    /** Sets the status and whichever of the other fields are given. */
    update(
      id: number,
      f: Partial<Pick<RunRecord, 'status' | 'backend' | 'error' | 'startedAt' | 'finishedAt' | 'ownerPid' | 'trainerPid'>>,
    ): RunRecord {
      const cols: Record<string, string> = {
        status: 'status',
        backend: 'backend',
        error: 'error',
        startedAt: 'started_at',
        finishedAt: 'finished_at',
        ownerPid: 'owner_pid',
        trainerPid: 'trainer_pid',
      };
      const keys = Object.keys(f).filter((k) => k in cols);
      if (keys.length) {
        db.prepare(`UPDATE runs SET ${keys.map((k) => `${cols[k]} = @${k}`).join(', ')} WHERE id = @id`).run({ ...f, id });
      }
      return this.get(id)!;
    },
  };
}

export type RunsRepo = ReturnType<typeof createRunsRepo>;
