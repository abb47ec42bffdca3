/**
 * The web shell: the engine served over HTTP (contract calls as JSON), a WebSocket (engine events)
 * and the built renderer as static files, for one user holding the printed token.
 *
 * Every request passes, in order: Host check (403, DNS rebinding), Origin check on state-changing
 * requests and WebSocket upgrades (403), token check (401). See auth.ts.
 */
import http, { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Engine } from '../engine';
import { createHandlers } from '../handlers';
import { errorMessage } from '../errors';
import { appRoot } from '../storage/paths';
import { API_CALL_PREFIX, handleApiCall } from './api';
import {
  allowedHostHeaders,
  hostAllowed,
  hostWithPort,
  isAuthenticated,
  isLoopbackHost,
  isStateChanging,
  newToken,
  originAllowed,
  sessionCookie,
  tokenMatches,
} from './auth';
import { openInBrowser, type OpenResult } from './browser';
import { createEventsSocketServer, EVENTS_PATH } from './events';
import { sendJson, sendPage, sendText, setSecurityHeaders, wantsHtml } from './responses';
import { parseRequestPath, serveStatic } from './static';

export interface WebServerOptions {
  /** Interface to bind; 127.0.0.1 unless the user asks otherwise. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Access token; a fresh random one when absent. */
  token?: string;
  /** Folder of the built renderer (default `<appRoot>/out/renderer`). */
  staticDir?: string;
  /** Where warnings go (default stderr). */
  log?: (line: string) => void;
}

export interface WebServer {
  /** The URL to open, token included: `http://127.0.0.1:PORT/?token=…`. */
  url: string;
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
  openBrowser(): Promise<OpenResult>;
}

export function defaultStaticDir(): string {
  return path.join(appRoot(), 'out', 'renderer');
}

/** The host to put in printed URLs: a wildcard bind is reached locally through loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

const UNAUTHORIZED_LINES = [
  'This LoRA Studio web server only answers the person who started it.',
  'Open the URL printed in the terminal where you ran `npm start` or `lora-studio serve` (it ends with ?token=…).',
];

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function splitUrl(rawUrl: string | undefined): { rawPath: string; query: URLSearchParams } {
  const url = rawUrl ?? '/';
  const q = url.indexOf('?');
  // The path is kept raw (not run through new URL, which would resolve `..` before we can refuse it).
  return q < 0 ? { rawPath: url, query: new URLSearchParams() } : { rawPath: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

export async function startWebServer(engine: Engine, opts: WebServerOptions = {}): Promise<WebServer> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? newToken();
  // Unreserved URL characters only: the token goes into the printed URL and the cookie unescaped.
  if (!/^[A-Za-z0-9._~-]{16,}$/.test(token)) throw new Error('web server token must be at least 16 characters from A-Z a-z 0-9 . _ ~ -');
  const staticDir = opts.staticDir ?? defaultStaticDir();
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const handlers = createHandlers(engine);
  const wss = createEventsSocketServer(engine.events);
  let allowedHosts = new Set<string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req, allowedHosts)) {
      sendText(res, 403, `forbidden: Host "${req.headers.host ?? ''}" is not this server (expected one of ${[...allowedHosts].join(', ')})`);
      return;
    }
    setSecurityHeaders(res, (req.headers.host ?? '').toLowerCase());
    if (isStateChanging(req.method) && !originAllowed(req)) {
      sendText(res, 403, `forbidden: cross-origin request from ${req.headers.origin}`);
      return;
    }
    const { rawPath, query } = splitUrl(req.url);
    if (!rawPath.startsWith('/')) {
      sendText(res, 400, 'bad request target');
      return;
    }
    const isApi = rawPath.startsWith('/api/');

    // The printed URL: trade the token for the session cookie, then drop it from the address bar.
    const offered = query.get('token');
    if (offered !== null && req.method === 'GET' && !isApi) {
      if (!tokenMatches(offered, token)) {
        sendPage(res, 401, 'Wrong access token', UNAUTHORIZED_LINES);
        return;
      }
      const parsed = parseRequestPath(rawPath);
      // Rebuilt from checked segments, so `//evil.example/?token=…` cannot redirect off-site.
      const location = parsed.ok ? '/' + parsed.segments.map(encodeURIComponent).join('/') : '/';
      res.writeHead(302, { Location: location, 'Set-Cookie': sessionCookie(token), 'Cache-Control': 'no-store' });
      res.end();
      return;
    }

    if (!isAuthenticated(req, token)) {
      if (isApi) sendJson(res, 401, { error: 'missing or wrong access token (use the URL printed by the server, or Authorization: Bearer <token>)' });
      else if (wantsHtml(req.headers.accept)) sendPage(res, 401, 'Access token needed', UNAUTHORIZED_LINES);
      else sendText(res, 401, 'missing or wrong access token');
      return;
    }

    if (rawPath.startsWith(API_CALL_PREFIX)) return handleApiCall(req, res, rawPath.slice(API_CALL_PREFIX.length), handlers);
    if (rawPath === EVENTS_PATH) {
      sendJson(res, 426, { error: `${EVENTS_PATH} is a WebSocket endpoint` });
      return;
    }
    if (isApi) {
      sendJson(res, 404, { error: `no API endpoint ${rawPath}` });
      return;
    }
    return serveStatic(req, res, rawPath, { root: staticDir });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error('web: request failed:', err);
      if (!res.headersSent) sendText(res, 500, `internal error: ${errorMessage(err)}`);
      else res.destroy();
    });
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const { rawPath } = splitUrl(req.url);
    if (!hostAllowed(req, allowedHosts)) return rejectUpgrade(socket, 403, `forbidden: Host "${req.headers.host ?? ''}" is not this server`);
    if (!originAllowed(req)) return rejectUpgrade(socket, 403, `forbidden: cross-origin WebSocket from ${req.headers.origin}`);
    if (!isAuthenticated(req, token)) return rejectUpgrade(socket, 401, 'missing or wrong access token');
    if (rawPath !== EVENTS_PATH) return rejectUpgrade(socket, 404, `no WebSocket endpoint ${rawPath}`);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ' (the port is in use: choose another with --port, or --port 0 for a free one)' : '';
      reject(new Error(`web server cannot listen on ${hostWithPort(host, opts.port ?? 0)}: ${err.code ?? err.message}${hint}`));
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const port = address.port;
  allowedHosts = allowedHostHeaders(host, port);
  if (!isLoopbackHost(host)) {
    log(
      `warning: the web server is bound to ${host}, reachable from other machines on the network. ` +
        'Anyone who obtains the token can use LoRA Studio with your files, and traffic is not encrypted (plain HTTP).',
    );
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  engine.onClose(close);

  const url = `http://${hostWithPort(urlHost(host), port)}/?token=${token}`;
  return { url, host, port, token, close, openBrowser: () => openInBrowser(url) };
}
