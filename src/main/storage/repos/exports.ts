/** Export jobs (table exports): what was asked, where it goes, how it ended. */
import type { DB } from '../db';
import { nowIso } from '../db';

export type ExportKind = 'peft' | 'merged' | 'gguf';
export type ExportStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface ExportRow {
  id: number;
  adapterId: number | null;
  kind: ExportKind;
  path: string;
  status: ExportStatus;
  options: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface Raw {
  id: number;
  adapter_id: number | null;
  kind: ExportKind;
  path: string;
  status: ExportStatus;
  options_json: string;
  result_json: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

const fromRaw = (r: Raw): ExportRow => ({
  id: r.id,
  adapterId: r.adapter_id,
  kind: r.kind,
  path: r.path,
  status: r.status,
  options: JSON.parse(r.options_json) as Record<string, unknown>,
  result: r.result_json ? (JSON.parse(r.result_json) as Record<string, unknown>) : null,
  error: r.error,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

export function createExportsRepo(db: DB) {
  const insert = db.prepare(
    `INSERT INTO exports (adapter_id, kind, path, status, options_json, created_at)
     VALUES (@adapterId, @kind, @path, 'running', @options, @createdAt)`,
  );
  const byId = db.prepare<[number], Raw>('SELECT * FROM exports WHERE id = ?');
  const all = db.prepare<[], Raw>('SELECT * FROM exports ORDER BY id DESC');
  const forAdapter = db.prepare<[number], Raw>('SELECT * FROM exports WHERE adapter_id = ? ORDER BY id DESC');
  const running = db.prepare<[], Raw>("SELECT * FROM exports WHERE status = 'running'");
  const finish = db.prepare('UPDATE exports SET status = @status, result_json = @result, error = @error, finished_at = @finishedAt WHERE id = @id');
  return {
    create(e: { adapterId: number | null; kind: ExportKind; path: string; options: Record<string, unknown> }): ExportRow {
      const info = insert.run({ ...e, options: JSON.stringify(e.options), createdAt: nowIso() });
      return fromRaw(byId.get(Number(info.lastInsertRowid))!);
    },
    get(id: number): ExportRow | undefined {
      const r = byId.get(id);
      return r && fromRaw(r);
    },
    list(adapterId?: number): ExportRow[] {
      return (adapterId === undefined ? all.all() : forAdapter.all(adapterId)).map(fromRaw);
    },
    running(): ExportRow[] {
      return running.all().map(fromRaw);
    },
    finish(id: number, status: Exclude<ExportStatus, 'running'>, result: unknown, error: string | null): ExportRow {
      finish.run({ id, status, result: result === null || result === undefined ? null : JSON.stringify(result), error, finishedAt: nowIso() });
      return fromRaw(byId.get(id)!);
    },
  };
}

export type ExportsRepo = ReturnType<typeof createExportsRepo>;
