/**
 * Opening the database and migrating it.
 *
 * Migrations are the numbered SQL files in db/ (`0001__init.sql`, ...). They are applied at start in
 * one transaction, and PRAGMA user_version records the last one applied. Before an existing database
 * is migrated, a copy of its file is kept beside it. A database newer than this app is refused and
 * left untouched.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { appRoot } from './paths';

export type DB = Database.Database;

/**
 * The Electron shell points this at the better-sqlite3 build made for Electron's ABI
 * (native/electron/, see scripts/postinstall.mjs); plain Node uses the package's own build.
 */
function driverOptions(): Database.Options {
  const nativeBinding = process.env.LORA_STUDIO_SQLITE_BINDING;
  return nativeBinding ? { nativeBinding } : {};
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{4})__([\w-]+)\.sql$/;

export function migrationsDir(): string {
  return path.join(appRoot(), 'db');
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .map((file) => ({ file, m: MIGRATION_FILE.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), name: m[2], sql: fs.readFileSync(path.join(dir, file), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${dir}: migration ${String(i + 1).padStart(4, '0')} is missing (found ${m.name})`);
  });
  return migrations;
}

export class DatabaseTooNewError extends Error {
  constructor(
    readonly file: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(`${file}: database is at version ${found}, newer than this app understands (${supported}); update LoRA Studio. The file was not changed.`);
    this.name = 'DatabaseTooNewError';
  }
}

export interface OpenOptions {
  migrations?: Migration[];
  /** Called with the backup path when an existing database is copied before migrating. */
  onBackup?: (backupPath: string) => void;
}

export interface OpenedDatabase {
  db: DB;
  path: string;
  version: number;
  latest: number;
  backupPath?: string;
}

/** Open (creating if needed) and migrate. `file` may be ':memory:'. */
export function openDatabase(file: string, opts: OpenOptions = {}): OpenedDatabase {
  const migrations = opts.migrations ?? loadMigrations();
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  const inMemory = file === ':memory:';
  const existed = !inMemory && fs.existsSync(file) && fs.statSync(file).size > 0;

  if (existed) {
    // Read the version without changing anything: a database from the future stays untouched.
    const probe = new Database(file, { ...driverOptions(), readonly: true, fileMustExist: true });
    let found: number;
    try {
      found = probe.pragma('user_version', { simple: true }) as number;
    } finally {
      probe.close();
    }
    if (found > latest) throw new DatabaseTooNewError(file, found, latest);
  }

  if (!inMemory) fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, driverOptions());
  try {
    if (!inMemory) db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const current = db.pragma('user_version', { simple: true }) as number;
    let backupPath: string | undefined;
    if (current < latest) {
      if (existed && current > 0) {
        backupPath = backupBeforeMigrate(db, file, current);
        opts.onBackup?.(backupPath);
      }
      migrate(db, migrations, current);
    }
    return { db, path: file, version: latest, latest, backupPath };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Copy the database file (checkpointing the WAL first) to `<file>.v<N>.<timestamp>.bak`. */
function backupBeforeMigrate(db: DB, file: string, version: number): string {
  db.pragma('wal_checkpoint(TRUNCATE)');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const backup = `${file}.v${version}.${stamp}.bak`;
  fs.copyFileSync(file, backup, fs.constants.COPYFILE_EXCL);
  return backup;
}

/** Apply every migration above `from`, all in one transaction: all of them land or none does. */
export function migrate(db: DB, migrations: Migration[], from: number): void {
  const pending = migrations.filter((m) => m.version > from);
  if (pending.length === 0) return;
  const apply = db.transaction(() => {
    for (const m of pending) {
      try {
        db.exec(m.sql);
      } catch (err) {
        throw new Error(`migration ${String(m.version).padStart(4, '0')}__${m.name}.sql failed: ${(err as Error).message}`);
      }
    }
    db.pragma(`user_version = ${pending[pending.length - 1].version}`);
  });
  apply();
}

export function nowIso(): string {
  return new Date().toISOString();
}
