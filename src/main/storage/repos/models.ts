/** Registered base models. */
import type { DB } from '../db';
import { nowIso } from '../db';

export type ModelSource = 'user' | 'hf-cache' | 'starter';

export interface ModelRow {
  id: number;
  name: string;
  path: string;
  source: ModelSource;
  modelType: string;
  architecture: string | null;
  params: number;
  sizeBytes: number;
  dtype: string | null;
  config: Record<string, unknown>;
  addedAt: string;
}

interface Raw {
  id: number;
  name: string;
  path: string;
  source: ModelSource;
  model_type: string;
  architecture: string | null;
  params: number;
  size_bytes: number;
  dtype: string | null;
  config_json: string;
  added_at: string;
}

const fromRaw = (r: Raw): ModelRow => ({
  id: r.id,
  name: r.name,
  path: r.path,
  source: r.source,
  modelType: r.model_type,
  architecture: r.architecture,
  params: r.params,
  sizeBytes: r.size_bytes,
  dtype: r.dtype,
  config: JSON.parse(r.config_json) as Record<string, unknown>,
  addedAt: r.added_at,
});

export type NewModel = Omit<ModelRow, 'id' | 'addedAt'>;

export function createModelsRepo(db: DB) {
  const insert = db.prepare(
    `INSERT INTO models (name, path, source, model_type, architecture, params, size_bytes, dtype, config_json, added_at)
     VALUES (@name, @path, @source, @modelType, @architecture, @params, @sizeBytes, @dtype, @config, @addedAt)`,
  );
  const byId = db.prepare<[number], Raw>('SELECT * FROM models WHERE id = ?');
  const byPath = db.prepare<[string], Raw>('SELECT * FROM models WHERE path = ?');
  const all = db.prepare<[], Raw>('SELECT * FROM models ORDER BY source = \'starter\' DESC, added_at DESC, id DESC');
  const del = db.prepare('DELETE FROM models WHERE id = ?');
  const rename = db.prepare('UPDATE models SET name = ? WHERE id = ?');
  return {
    add(m: NewModel): ModelRow {
      const info = insert.run({ ...m, config: JSON.stringify(m.config), addedAt: nowIso() });
      return fromRaw(byId.get(Number(info.lastInsertRowid))!);
    },
    get(id: number): ModelRow | undefined {
      const r = byId.get(id);
      return r && fromRaw(r);
    },
    getByPath(path: string): ModelRow | undefined {
      const r = byPath.get(path);
      return r && fromRaw(r);
    },
    list(): ModelRow[] {
      return all.all().map(fromRaw);
    },
    remove(id: number): boolean {
      return del.run(id).changes > 0;
    },
    rename(id: number, name: string): void {
      rename.run(name, id);
    },
  };
}

export type ModelsRepo = ReturnType<typeof createModelsRepo>;
