/** What every CLI command receives: global flags, output helpers and a lazily opened engine. */
import type { Engine } from '../engine';
import { openEngine } from '../bootstrap';
import { handlersFor } from './engine-handlers';
import type { Handlers } from '../handlers';

export interface CliContext {
  json: boolean;
  dataDir?: string;
  /** Opens the engine on first use (commands like --help never touch the data dir). */
  engine(): Engine;
  handlers(): Handlers;
  /** Print a result: JSON under --json, else the human text. */
  print(result: unknown, human?: string | (() => string)): void;
  /** Progress and notes: always stderr, so --json stdout stays machine-readable. */
  info(line: string): void;
  /** Under --json, one JSON object per line on stdout (event streams). */
  emitJson(obj: unknown): void;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function createContext(json: boolean, dataDir?: string): CliContext & { close(): Promise<void> } {
  let engine: Engine | undefined;
  let handlers: Handlers | undefined;
  return {
    json,
    dataDir,
    engine() {
      engine ??= openEngine({ dataDir, shell: 'cli' });
      return engine;
    },
    handlers() {
      handlers ??= handlersFor(this.engine());
      return handlers;
    },
    print(result, human) {
      if (json) process.stdout.write(JSON.stringify(result) + '\n');
      else if (human !== undefined) process.stdout.write((typeof human === 'function' ? human() : human).replace(/\n?$/, '\n'));
      else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    },
    info(line) {
      process.stderr.write(line + '\n');
    },
    emitJson(obj) {
      if (json) process.stdout.write(JSON.stringify(obj) + '\n');
    },
    async close() {
      if (engine) await engine.close();
    },
  };
}
