/**
 * The engine: storage, services and the event bus, opened on a data dir. Every shell (desktop,
 * web, CLI) creates one Engine and talks to it through the contract handlers. No electron here.
 */
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import type { ShellKind } from '../shared/contract';
import { openDatabase, type DB } from './storage/db';
import { dataPaths, resolveDataDir } from './storage/paths';
import { createSettingsRepo } from './storage/repos/settings';
import { EventBus } from './events';
import type { TrainerChannel } from './trainer/protocol';

export interface EngineOptions {
  /** Explicit data dir (--data-dir, Electron's userData); else env / platform default. */
  dataDir?: string;
  shell: ShellKind;
  /**
   * Starts a trainer process. The desktop shell passes Electron's utilityProcess here
   * (desktop/trainer.ts); web and CLI leave it out and get child_process.fork (trainer/fork.ts).
   */
  spawnTrainer?: () => TrainerChannel;
}

export function appVersion(): string {
  const require = createRequire(import.meta.url);
  try {
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export class Engine {
  readonly events = new EventBus();
  readonly paths: ReturnType<typeof dataPaths>;
  readonly db: DB;
  readonly dbVersion: number;
  readonly dbLatest: number;
  readonly settings: ReturnType<typeof createSettingsRepo>;
  private closers: (() => void | Promise<void>)[] = [];

  private constructor(
    readonly shell: ShellKind,
    readonly dataDir: string,
    readonly spawnTrainer: (() => TrainerChannel) | undefined,
  ) {
    this.paths = dataPaths(dataDir);
    fs.mkdirSync(dataDir, { recursive: true });
    const opened = openDatabase(this.paths.db);
    this.db = opened.db;
    this.dbVersion = opened.version;
    this.dbLatest = opened.latest;
    this.settings = createSettingsRepo(this.db);
  }

  static open(opts: EngineOptions): Engine {
    return new Engine(opts.shell, resolveDataDir(opts.dataDir), opts.spawnTrainer);
  }

  /** Register cleanup to run at close() (trainer processes, servers, watchers). */
  onClose(fn: () => void | Promise<void>): void {
    this.closers.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.closers.reverse()) await fn();
    this.closers = [];
    if (this.db.open) this.db.close();
  }

  memory() {
    return { totalBytes: os.totalmem(), freeBytes: os.freemem() };
  }
}
