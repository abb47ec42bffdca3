/**
 * Who may talk to the web shell: the holder of the printed token (cookie or Bearer header), from a
 * page this server served (Host and Origin checks against DNS rebinding and cross-site requests).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'lora_studio_session';

/** 32 random bytes as hex, like Jupyter's token. */
export function newToken(): string {
  return crypto.randomBytes(32).toString('hex');
}

/** Constant-time comparison; hashing first hides the length of the expected token too. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    // The first cookie of a name wins, as browsers send the most specific path first.
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}

/** The token a request carries: `Authorization: Bearer T` or the session cookie. */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  return parseCookies(req.headers.cookie).get(SESSION_COOKIE);
}

export function isAuthenticated(req: IncomingMessage, token: string): boolean {
  return tokenMatches(requestToken(req), token);
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1';
}

function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `host:port` as it appears in a Host header (IPv6 literals bracketed). */
export function hostWithPort(host: string, port: number): string {
  const h = net.isIPv6(host) ? `[${host}]` : host;
  return `${h}:${port}`;
}

/**
 * The Host header values a legitimate request can carry. A DNS-rebinding page reaches us under its
 * own domain name, which is never in this set.
 */
export function allowedHostHeaders(boundHost: string, port: number): Set<string> {
  const names = new Set<string>([boundHost.toLowerCase()]);
  if (isLoopbackHost(boundHost) || isWildcardHost(boundHost)) {
    for (const h of ['localhost', '127.0.0.1', '::1']) names.add(h);
  }
  if (isWildcardHost(boundHost)) {
    // Bound to every interface: the machine is reached by any of its own addresses or its name.
    names.add(os.hostname().toLowerCase());
    for (const list of Object.values(os.networkInterfaces())) {
      for (const addr of list ?? []) names.add(addr.address.replace(/%.*$/, '').toLowerCase());
    }
  }
  const out = new Set<string>();
  for (const name of names) {
    out.add(hostWithPort(name, port));
    if (port === 80) out.add(net.isIPv6(name) ? `[${name}]` : name);
  }
  return out;
}

export function hostAllowed(req: IncomingMessage, allowed: Set<string>): boolean {
  const host = req.headers.host?.toLowerCase();
  return host !== undefined && allowed.has(host);
}

/** Requests that change state, for which a foreign Origin is refused. */
export function isStateChanging(method: string | undefined): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
}

/**
 * An Origin header, when present, must be this server's own origin (scheme + the Host the request
 * was addressed to, already checked against the allowed set). Scripts that send none pass; the token
 * still guards them.
 */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const host = req.headers.host;
  return host !== undefined && origin.toLowerCase() === `http://${host.toLowerCase()}`;
}
