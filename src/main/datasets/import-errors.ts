/**
 * How an import stops early (cancelled, aborted on a bad line), and how an error thrown in the
 * import worker crosses back to the importing thread as the same class with the same message, so
 * the user reads the same file name, line and reason whichever thread read the file.
 */
import { UserError } from '../errors';
import { FileFormatError } from './readers/source';
import type { SkippedLine } from './types';

export class ImportCancelledError extends UserError {
  constructor() {
    super('import cancelled; nothing was kept', 409);
    this.name = 'ImportCancelledError';
  }
}

/** A bad line under onError 'abort'. */
export class ImportAbortedError extends UserError {
  constructor(readonly skipped: SkippedLine) {
    super(`${skipped.file ? `${skipped.file} ` : ''}line ${skipped.line}: ${skipped.reason}. Nothing was imported (skip bad lines to import the rest: --on-error skip)`, 400);
    this.name = 'ImportAbortedError';
  }
}

/** An error as plain data (structured-cloneable), tagged with the class to rebuild. */
export type WireError =
  | { kind: 'aborted'; skipped: SkippedLine }
  | { kind: 'cancelled' }
  | { kind: 'file'; file: string; detail: string }
  | { kind: 'user'; name: string; message: string; status: UserError['status'] }
  | { kind: 'internal'; name: string; message: string; stack?: string };

export function toWire(err: unknown): WireError {
  if (err instanceof ImportAbortedError) return { kind: 'aborted', skipped: err.skipped };
  if (err instanceof ImportCancelledError) return { kind: 'cancelled' };
  // FileFormatError's message is `${file}: ${detail}`.
  if (err instanceof FileFormatError) return { kind: 'file', file: err.file, detail: err.message.slice(err.file.length + 2) };
  if (err instanceof UserError) return { kind: 'user', name: err.name, message: err.message, status: err.status };
  if (err instanceof Error) return { kind: 'internal', name: err.name, message: err.message, stack: err.stack };
  return { kind: 'internal', name: 'Error', message: String(err) };
}

export function fromWire(w: WireError): Error {
  switch (w.kind) {
    case 'aborted':
      return new ImportAbortedError(w.skipped);
    case 'cancelled':
      return new ImportCancelledError();
    case 'file':
      return new FileFormatError(w.file, w.detail);
    case 'user': {
      const err = new UserError(w.message, w.status);
      err.name = w.name;
      return err;
    }
    case 'internal': {
      // A bug rather than bad input: keep the worker's stack, it is the useful one.
      const err = new Error(w.message);
      err.name = w.name;
      if (w.stack) err.stack = w.stack;
      return err;
    }
  }
}
