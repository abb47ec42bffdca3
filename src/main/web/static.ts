/**
 * The built renderer served as static files: known Content-Types, no directory listing, no way out
 * of the root (decoded `..`, NUL, backslashes, drive letters and symlinks pointing outside are refused),
 * and index.html for the app's own extensionless routes (the SPA fallback).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { sendPage, sendText, wantsHtml } from './responses';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type RequestPath = { ok: true; segments: string[] } | { ok: false; reason: string };

/** Split a raw URL path into safe segments, or say why it is refused. */
export function parseRequestPath(rawPath: string): RequestPath {
  if (rawPath.includes('\\') || /%5c/i.test(rawPath)) return { ok: false, reason: 'backslash in path' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, reason: 'malformed percent-encoding in path' };
  }
  if (decoded.includes('\0')) return { ok: false, reason: 'NUL byte in path' };
  if (!decoded.startsWith('/')) return { ok: false, reason: 'path must start with /' };
  const segments: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: '".." in path' };
    // A colon makes a drive-relative or absolute path on Windows (C:, \\?\); no built asset has one.
    if (seg.includes(':')) return { ok: false, reason: 'colon in path' };
    segments.push(seg);
  }
  return { ok: true, segments };
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function realpathOrNull(p: string): Promise<string | null> {
  try {
    return await fs.promises.realpath(p);
  } catch {
    return null;
  }
}

export interface StaticSite {
  /** The folder served (normally `<appRoot>/out/renderer`). */
  root: string;
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const st = await handle.stat();
    res.writeHead(200, {
      'Content-Type': contentTypeFor(file),
      'Content-Length': st.size,
      // Local server: revalidate every time so a rebuilt UI is picked up at once.
      'Cache-Control': 'no-cache',
      'Last-Modified': st.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(handle.createReadStream({ autoClose: false }), res);
  } catch (err) {
    // The browser went away mid-download (navigation, closed tab): nothing to report.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  } finally {
    await handle.close();
  }
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  if (wantsHtml(req.headers.accept)) sendPage(res, 404, 'Not found', ['There is no such page in LoRA Studio.']);
  else sendText(res, 404, 'not found');
}

/** Serve one GET/HEAD request for a file of the built UI. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, rawPath: string, site: StaticSite): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendText(res, 405, `method ${req.method} not allowed here`);
    return;
  }
  const parsed = parseRequestPath(rawPath);
  if (!parsed.ok) {
    sendText(res, 400, `bad path: ${parsed.reason}`);
    return;
  }
  const root = await realpathOrNull(site.root);
  const index = root && path.join(root, 'index.html');
  if (!root || !index || !fs.existsSync(index)) {
    sendPage(res, 503, 'The LoRA Studio UI is not built', [
      `The web shell is running, but ${path.join(site.root, 'index.html')} does not exist.`,
      'Build the UI with `npm run build:web` (or start the app with `npm start`, which builds it when needed), then reload this page.',
    ]);
    return;
  }
  if (parsed.segments.length === 0) return sendFile(req, res, index);

  const target = path.join(root, ...parsed.segments);
  if (!inside(root, target)) return notFound(req, res);
  const real = await realpathOrNull(target);
  if (real === null) {
    // An app route such as /runs/12 is a page of the single-page app, not a file; anything under a
    // real top-level entry (/assets/…) or with an extension is a missing file.
    const last = parsed.segments[parsed.segments.length - 1];
    const underRealEntry = fs.existsSync(path.join(root, parsed.segments[0]));
    if (path.extname(last) === '' && !underRealEntry) return sendFile(req, res, index);
    return notFound(req, res);
  }
  // A symlink inside the root may not lead out of it.
  if (!inside(root, real)) return notFound(req, res);
  const st = await fs.promises.stat(real);
  // Folders are never listed.
  if (!st.isFile()) return notFound(req, res);
  return sendFile(req, res, real);
}
