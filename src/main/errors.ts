/** Errors the shells translate into HTTP statuses, IPC rejections and CLI exit lines. */

/** The caller's fault: bad arguments, unknown ids, refused input. HTTP 400 / 404. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message, 404);
    this.name = 'NotFoundError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
