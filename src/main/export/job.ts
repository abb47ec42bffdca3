/**
 * What every export job shares: cooperative cancellation, progress in bytes, a destination that is
 * written into a temp folder beside it and renamed into place only when complete, and errors
 * turned into one clear sentence (disk full, permission denied, destination exists, cancelled).
 * On any failure the temp folder is removed, so nothing partial is left behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class ExportCancelled extends Error {
  constructor() {
    super('export cancelled');
    this.name = 'ExportCancelled';
  }
}

/** A refusal the user can fix (destination exists, bad option); no stack trace needed. */
export class ExportRefused extends Error {
  constructor(
    message: string,
    readonly status: 400 | 409 = 400,
  ) {
    super(message);
    this.name = 'ExportRefused';
  }
}

export interface JobContext {
  /** Throws ExportCancelled once cancellation was asked for. */
  checkCancelled(): void;
  /** Work done so far (bytes), of `total`, in a named phase (merge, write, verify). */
  progress(done: number, total: number, phase: string): void;
}

export const noopContext: JobContext = { checkCancelled() {}, progress() {} };

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.partial-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
}

function refuseExisting(target: string): void {
  if (fs.existsSync(target)) throw new ExportRefused(`${target} already exists; choose another destination or remove it first`, 409);
}

/** Creates the parent folders of `target` (they may legitimately not exist yet). */
function ensureParent(target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
}

/**
 * Runs `fill(tmpDir)` and renames the temp folder to `outDir`. `outDir` must not exist.
 */
export async function writeFolderAtomically<T>(outDir: string, fill: (tmpDir: string) => Promise<T> | T): Promise<T> {
  refuseExisting(outDir);
  ensureParent(outDir);
  const tmp = tempName(outDir);
  fs.mkdirSync(tmp);
  try {
    const result = await fill(tmp);
    refuseExisting(outDir);
    fs.renameSync(tmp, outDir);
    return result;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Runs `fill(tmpDir)`, which writes the files named in `outputs` (basenames) into tmpDir, then
 * moves each next to `outputs`' destinations. None of the destinations may exist.
 */
export async function writeFilesAtomically<T>(outputs: string[], fill: (tmpDir: string) => Promise<T> | T): Promise<T> {
  for (const o of outputs) refuseExisting(o);
  ensureParent(outputs[0]);
  const tmp = tempName(outputs[0]);
  fs.mkdirSync(tmp);
  const moved: string[] = [];
  try {
    const result = await fill(tmp);
    for (const o of outputs) refuseExisting(o);
    for (const o of outputs) {
      fs.renameSync(path.join(tmp, path.basename(o)), o);
      moved.push(o);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    return result;
  } catch (err) {
    for (const o of moved) fs.rmSync(o, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export type FailureKind = 'cancelled' | 'disk-full' | 'permission' | 'exists' | 'refused' | 'failed';

/** One sentence for the user about why an export to `dest` stopped. */
export function describeFailure(err: unknown, dest: string): { kind: FailureKind; message: string } {
  const where = path.dirname(dest);
  if (err instanceof ExportCancelled) return { kind: 'cancelled', message: `export cancelled; nothing was left in ${where}` };
  if (err instanceof ExportRefused) return { kind: err.status === 409 ? 'exists' : 'refused', message: err.message };
  const e = err as NodeJS.ErrnoException;
  const file = e.path ? ` (${e.path})` : '';
  switch (e.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return { kind: 'disk-full', message: `the disk is full: not enough space in ${where} to write the export${file}; nothing was left behind` };
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return { kind: 'permission', message: `permission denied writing to ${where}${file}; choose a folder you can write to` };
    case 'EEXIST':
    case 'ENOTEMPTY':
      return { kind: 'exists', message: `${dest} already exists; choose another destination or remove it first` };
    default:
      return { kind: 'failed', message: e.message ?? String(err) };
  }
}
