/**
 * The adapter library's side of table adapters: what the adapters repo (adapters.ts, written for
 * training: create/get/list) leaves out — tags, notes, rename, delete, lookups by base model and
 * lineage. Same table, same row mapping; kept apart so the training code's repo stays small.
 */
import type { DB } from '../db';
import { createAdaptersRepo, type AdapterRecord } from './adapters';

export interface LibraryAdapter extends AdapterRecord {
  tags: string[];
  notes: string;
}

interface Extra {
  id: number;
  tags_json: string;
  notes: string;
}

export function createAdapterLibraryRepo(db: DB) {
  const base = createAdaptersRepo(db);
  const extra = db.prepare<[number], Extra>('SELECT id, tags_json, notes FROM adapters WHERE id = ?');
  const allExtra = db.prepare<[], Extra>('SELECT id, tags_json, notes FROM adapters');
  const rename = db.prepare('UPDATE adapters SET name = ? WHERE id = ?');
  const setTags = db.prepare('UPDATE adapters SET tags_json = ? WHERE id = ?');
  const setNotes = db.prepare('UPDATE adapters SET notes = ? WHERE id = ?');
  const del = db.prepare('DELETE FROM adapters WHERE id = ?');
  const children = db.prepare<[number], { id: number }>('SELECT id FROM adapters WHERE parent_adapter_id = ?');
  const byPath = db.prepare<[string], { id: number }>('SELECT id FROM adapters WHERE path = ?');
  const withExtra = (a: AdapterRecord, e: Extra | undefined): LibraryAdapter => ({ ...a, tags: e ? (JSON.parse(e.tags_json) as string[]) : [], notes: e?.notes ?? '' });

  return {
    create: base.create.bind(base),
    get(id: number): LibraryAdapter | undefined {
      const a = base.get(id);
      return a && withExtra(a, extra.get(id));
    },
    list(): LibraryAdapter[] {
      const extras = new Map(allExtra.all().map((e) => [e.id, e]));
      return base.list().map((a) => withExtra(a, extras.get(a.id)));
    },
    byPath(p: string): number | undefined {
      return byPath.get(p)?.id;
    },
    rename(id: number, name: string): void {
      rename.run(name, id);
    },
    setTags(id: number, tags: string[]): void {
      setTags.run(JSON.stringify(tags), id);
    },
    setNotes(id: number, notes: string): void {
      setNotes.run(notes, id);
    },
    /** Adapters made from this one (resize, combine, continued training). */
    children(id: number): number[] {
      return children.all(id).map((r) => r.id);
    },
    remove(id: number): boolean {
      return del.run(id).changes > 0;
    },
  };
}

export type AdapterLibraryRepo = ReturnType<typeof createAdapterLibraryRepo>;
