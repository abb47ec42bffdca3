/** Named run settings (table run_presets); config_json holds the preset's settings as parsed. */
import type { PresetConfigParsed } from '../../../shared/contract/runs-library';
import type { DB } from '../db';
import { nowIso } from '../db';

export interface PresetRecord {
  id: number;
  name: string;
  config: PresetConfigParsed;
  createdAt: string;
}

interface Row {
  id: number;
  name: string;
  config_json: string;
  created_at: string;
}

const toRecord = (r: Row): PresetRecord => ({ id: r.id, name: r.name, config: JSON.parse(r.config_json) as PresetConfigParsed, createdAt: r.created_at });

export function createPresetsRepo(db: DB) {
  // Saving under an existing name replaces that preset's settings and keeps its id.
  const upsert = db.prepare(
    `INSERT INTO run_presets (name, config_json, created_at) VALUES (?, ?, ?)
     ON CONFLICT(name) DO UPDATE SET config_json = excluded.config_json, created_at = excluded.created_at`,
  );
  const byName = db.prepare<[string], Row>('SELECT * FROM run_presets WHERE name = ?');
  const all = db.prepare<[], Row>('SELECT * FROM run_presets ORDER BY name COLLATE NOCASE');
  const del = db.prepare('DELETE FROM run_presets WHERE id = ?');
  return {
    save(name: string, config: PresetConfigParsed): PresetRecord {
      upsert.run(name, JSON.stringify(config), nowIso());
      return toRecord(byName.get(name)!);
    },
    list(): PresetRecord[] {
      return all.all().map(toRecord);
    },
    remove(id: number): boolean {
      return del.run(id).changes > 0;
    },
  };
}

export type PresetsRepo = ReturnType<typeof createPresetsRepo>;
