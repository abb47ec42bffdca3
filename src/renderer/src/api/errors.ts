/**
 * A failed engine call. `status` is the web shell's HTTP status (400 bad input, 401 no session,
 * 404, 409, 500; 0 when the server could not be reached); null in the desktop shell, whose IPC
 * errors carry only the message.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly call: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
