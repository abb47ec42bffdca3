import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseTooNewError, loadMigrations, openDatabase, type Migration } from '../../../src/main/storage/db';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-db-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const tables = (db: Database.Database) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);

describe('migrations', () => {
  it('loads the numbered files in db/ in order, without gaps', () => {
    const ms = loadMigrations();
    expect(ms.length).toBeGreaterThan(0);
    ms.forEach((m, i) => expect(m.version).toBe(i + 1));
  });

  it('migrates a fresh database to the current version with WAL and foreign keys', () => {
    const file = path.join(dir, 'fresh.db');
    const { db, version, latest, backupPath } = openDatabase(file);
    expect(version).toBe(latest);
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(tables(db)).toEqual(expect.arrayContaining(['models', 'datasets', 'dataset_rows', 'runs', 'metrics', 'checkpoints', 'adapters', 'exports']));
    expect(backupPath).toBeUndefined(); // nothing to back up in a new file
    db.close();
  });

  it('migrates an older database and keeps a backup of the file as it was', () => {
    const file = path.join(dir, 'old.db');
    const all = loadMigrations();
    const extra: Migration = { version: all.length + 1, name: 'test_extra', sql: 'CREATE TABLE extra (x INTEGER);' };
    openDatabase(file, { migrations: all }).db.close();
    // a row written at the old version must survive, and be in the backup too
    const raw = new Database(file);
    raw.prepare("INSERT INTO settings (key, value) VALUES ('k', '1')").run();
    raw.close();

    const { db, version, backupPath } = openDatabase(file, { migrations: [...all, extra] });
    expect(version).toBe(all.length + 1);
    expect(tables(db)).toContain('extra');
    expect(db.prepare("SELECT value FROM settings WHERE key = 'k'").get()).toEqual({ value: '1' });
    db.close();
    expect(backupPath).toBeDefined();
    const backup = new Database(backupPath!, { readonly: true });
    expect(backup.pragma('user_version', { simple: true })).toBe(all.length);
    expect(tables(backup)).not.toContain('extra');
    expect(backup.prepare("SELECT value FROM settings WHERE key = 'k'").get()).toEqual({ value: '1' });
    backup.close();
  });

  it('refuses a database from a newer app and leaves the file untouched', () => {
    const file = path.join(dir, 'future.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE t (x); INSERT INTO t VALUES (42);');
    raw.pragma('user_version = 999');
    raw.close();
    const before = fs.readFileSync(file);
    const filesBefore = fs.readdirSync(dir).sort();

    expect(() => openDatabase(file)).toThrow(DatabaseTooNewError);
    expect(() => openDatabase(file)).toThrow(/version 999, newer than this app/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(filesBefore); // no -wal/-shm, no backup written
  });

  it('an interrupted migration leaves the database at its old version', () => {
    const file = path.join(dir, 'broken.db');
    const all = loadMigrations();
    openDatabase(file, { migrations: all }).db.close();
    const broken: Migration[] = [
      ...all,
      { version: all.length + 1, name: 'good', sql: 'CREATE TABLE good (x INTEGER);' },
      { version: all.length + 2, name: 'bad', sql: 'CREATE TABLE half (x INTEGER); THIS IS NOT SQL;' },
    ];
    expect(() => openDatabase(file, { migrations: broken })).toThrow(/migration 000\d__bad\.sql failed/);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(all.length);
    expect(tables(db)).not.toContain('good'); // the whole batch rolled back, not only the failing file
    expect(tables(db)).not.toContain('half');
    db.close();
  });

  it('works in memory for tests', () => {
    const { db, version } = openDatabase(':memory:');
    expect(version).toBeGreaterThan(0);
    db.close();
  });
});
