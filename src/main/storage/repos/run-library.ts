/**
 * The run history's side of table runs: what the runs repo (runs.ts, written for training) leaves
 * out — notes, tags and deleting a run. Metrics and checkpoints go with the run (ON DELETE
 * CASCADE); adapters it produced stay, their run_id cleared (ON DELETE SET NULL).
 */
import type { DB } from '../db';

export interface RunAnnotationRecord {
  id: number;
  notes: string;
  tags: string[];
}

interface Row {
  id: number;
  notes: string;
  tags_json: string;
}

const toRecord = (r: Row): RunAnnotationRecord => ({ id: r.id, notes: r.notes, tags: JSON.parse(r.tags_json) as string[] });

export function createRunLibraryRepo(db: DB) {
  const one = db.prepare<[number], Row>('SELECT id, notes, tags_json FROM runs WHERE id = ?');
  const all = db.prepare<[], Row>('SELECT id, notes, tags_json FROM runs ORDER BY id');
  const setNotes = db.prepare('UPDATE runs SET notes = ? WHERE id = ?');
  const setTags = db.prepare('UPDATE runs SET tags_json = ? WHERE id = ?');
  const adapters = db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM adapters WHERE run_id = ?');
  const del = db.prepare('DELETE FROM runs WHERE id = ?');
  return {
    get(id: number): RunAnnotationRecord | undefined {
      const r = one.get(id);
      return r && toRecord(r);
    },
    list(): RunAnnotationRecord[] {
      return all.all().map(toRecord);
    },
    setNotes(id: number, notes: string): void {
      setNotes.run(notes, id);
    },
    setTags(id: number, tags: string[]): void {
      setTags.run(JSON.stringify(tags), id);
    },
    adapterCount(id: number): number {
      return adapters.get(id)?.n ?? 0;
    },
    remove(id: number): boolean {
      return del.run(id).changes > 0;
    },
  };
}

export type RunLibraryRepo = ReturnType<typeof createRunLibraryRepo>;
