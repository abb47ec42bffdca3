/**
 * `POST /api/call/<name>`: the JSON body is the call's arguments, dispatched through the contract
 * (name check + zod validation), answered `{"result": …}` or `{"error": "…"}` with UserError's status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dispatchCall, type Handlers } from '../handlers';
import { errorMessage, UserError } from '../errors';
import { sendJson } from './responses';

export const API_CALL_PREFIX = '/api/call/';
/** Largest accepted request body (dataset rows pasted into a form stay far below this). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

class BodyError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new BodyError(`request body too large (${declared} bytes; limit ${limit})`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyError(`request body too large (over ${limit} bytes)`, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON or nothing: a form or text/plain body is what a cross-site form would send. */
function contentTypeAccepted(header: string | undefined): boolean {
  if (header === undefined) return true;
  return header.split(';')[0].trim().toLowerCase() === 'application/json';
}

export async function handleApiCall(req: IncomingMessage, res: ServerResponse, rawName: string, handlers: Handlers): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST');
    sendJson(res, 405, { error: `calls are made with POST, not ${req.method}` });
    return;
  }
  if (!contentTypeAccepted(req.headers['content-type'])) {
    sendJson(res, 415, { error: `request body must be application/json, got "${req.headers['content-type']}"` });
    return;
  }
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    sendJson(res, 400, { error: `malformed call name "${rawName}"` });
    return;
  }
  let args: unknown;
  try {
    const text = await readBody(req, MAX_BODY_BYTES);
    if (text.trim() !== '') args = JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof BodyError) {
      // Stop reading the rest of an oversized upload.
      res.setHeader('Connection', 'close');
      sendJson(res, err.status, { error: err.message });
    } else sendJson(res, 400, { error: `request body is not valid JSON: ${errorMessage(err)}` });
    return;
  }
  try {
    const result = await dispatchCall(handlers, name, args, { via: 'http' });
    sendJson(res, 200, { result: result ?? null });
  } catch (err) {
    if (err instanceof UserError) {
      sendJson(res, err.status, { error: err.message });
    } else {
      console.error(`web: call ${name} failed:`, err);
      sendJson(res, 500, { error: errorMessage(err) });
    }
  }
}
