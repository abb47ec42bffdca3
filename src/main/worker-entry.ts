/**
 * Where a worker thread's code is, from source or from the desktop build.
 *
 * From source (tsx: CLI, web shell, tests) the worker is a TypeScript file beside its starter,
 * loaded through tsx's loader registered inside the worker. In the Electron build it is an
 * electron-vite main entry (electron.vite.config.ts) written beside index.js; the starter's code
 * may sit in index.js or in a shared chunk one folder down (out/main/chunks/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface WorkerEntry {
  /** What `new Worker` takes: a module URL, or code to evaluate. */
  spec: string | URL;
  eval: boolean;
}

/**
 * `starterUrl`: the starter's import.meta.url; `source`: the worker's .ts file name beside it;
 * `built`: the bundle's file name. Undefined when the built file is missing.
 */
export function findWorkerEntry(starterUrl: string, source: string, built: string): WorkerEntry | undefined {
  const here = fileURLToPath(starterUrl);
  if (here.endsWith('.ts')) {
    const tsxDir = path.dirname(createRequire(starterUrl).resolve('tsx/package.json'));
    const tsxApi = pathToFileURL(path.join(tsxDir, 'dist/esm/api/index.mjs')).href;
    const entry = pathToFileURL(path.join(path.dirname(here), source)).href;
    return { spec: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
  }
  const candidates = [path.join(path.dirname(here), built), path.join(path.dirname(here), '..', built)];
  const found = candidates.find((c) => fs.existsSync(c));
  return found ? { spec: pathToFileURL(found), eval: false } : undefined;
}
