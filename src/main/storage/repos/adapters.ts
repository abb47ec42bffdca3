/** Trained and imported adapters (table adapters). Minimal: what training writes and reads. */
import type { DB } from '../db';
import { nowIso } from '../db';

export interface AdapterRecord {
  id: number;
  name: string;
  path: string;
  source: 'run' | 'checkpoint' | 'import' | 'resize' | 'combine';
  baseModelId: number | null;
  baseModelName: string | null;
  runId: number | null;
  checkpointId: number | null;
  parentAdapterId: number | null;
  datasetVersionId: number | null;
  template: string | null;
  rank: number;
  alpha: number;
  targets: string[];
  layers: number[] | null;
  config: Record<string, unknown>;
  sizeBytes: number;
  sha256: string;
  createdAt: string;
}

interface Row {
  id: number;
  name: string;
  path: string;
  source: AdapterRecord['source'];
  base_model_id: number | null;
  base_model_name: string | null;
  run_id: number | null;
  checkpoint_id: number | null;
  parent_adapter_id: number | null;
  dataset_version_id: number | null;
  template: string | null;
  rank: number;
  alpha: number;
  targets_json: string;
  layers_json: string | null;
  config_json: string;
  size_bytes: number;
  sha256: string;
  created_at: string;
}

const toRecord = (r: Row): AdapterRecord => ({
  id: r.id,
  name: r.name,
  path: r.path,
  source: r.source,
  baseModelId: r.base_model_id,
  baseModelName: r.base_model_name,
  runId: r.run_id,
  checkpointId: r.checkpoint_id,
  parentAdapterId: r.parent_adapter_id,
  datasetVersionId: r.dataset_version_id,
  template: r.template,
  rank: r.rank,
  alpha: r.alpha,
  targets: JSON.parse(r.targets_json) as string[],
  layers: r.layers_json ? (JSON.parse(r.layers_json) as number[]) : null,
  config: JSON.parse(r.config_json) as Record<string, unknown>,
  sizeBytes: r.size_bytes,
  sha256: r.sha256,
  createdAt: r.created_at,
});

export type NewAdapter = Omit<AdapterRecord, 'id' | 'createdAt'>;

export function createAdaptersRepo(db: DB) {
  const insert = db.prepare(
    `INSERT INTO adapters (name, path, source, base_model_id, base_model_name, run_id, checkpoint_id, parent_adapter_id,
       dataset_version_id, template, rank, alpha, targets_json, layers_json, config_json, size_bytes, sha256, created_at)
     VALUES (@name, @path, @source, @baseModelId, @baseModelName, @runId, @checkpointId, @parentAdapterId,
       @datasetVersionId, @template, @rank, @alpha, @targets, @layers, @config, @sizeBytes, @sha256, @createdAt)`,
  );
  const byId = db.prepare<[number], Row>('SELECT * FROM adapters WHERE id = ?');
  const byRun = db.prepare<[number], Row>("SELECT * FROM adapters WHERE run_id = ? AND source = 'run' ORDER BY id DESC LIMIT 1");
  const all = db.prepare<[], Row>('SELECT * FROM adapters ORDER BY id DESC');
  return {
    create(a: NewAdapter): AdapterRecord {
      const info = insert.run({
        ...a,
        targets: JSON.stringify(a.targets),
        layers: a.layers ? JSON.stringify(a.layers) : null,
        config: JSON.stringify(a.config),
        createdAt: nowIso(),
      });
      return this.get(Number(info.lastInsertRowid))!;
    },
    get(id: number): AdapterRecord | undefined {
      const r = byId.get(id);
      return r ? toRecord(r) : undefined;
    },
    /** The adapter a run produced. */
    forRun(runId: number): AdapterRecord | undefined {
      const r = byRun.get(runId);
      return r ? toRecord(r) : undefined;
    },
    list(): AdapterRecord[] {
      return all.all().map(toRecord);
    },
  };
}

export type AdaptersRepo = ReturnType<typeof createAdaptersRepo>;
