import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/main/engine';
import { allowedHostHeaders, newToken, originAllowed, parseCookies, tokenMatches } from '../../../src/main/web/auth';
import { browserOpener } from '../../../src/main/web/browser';
import { startWebServer } from '../../../src/main/web/server';
import { parseRequestPath } from '../../../src/main/web/static';

const fakeRequest = (headers: http.IncomingHttpHeaders) => ({ headers }) as http.IncomingMessage;

describe('web auth helpers', () => {
  it('makes 64-hex-digit tokens that differ each time', () => {
    const a = newToken();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(newToken()).not.toBe(a);
  });

  it('matches only the exact token', () => {
    const t = newToken();
    expect(tokenMatches(t, t)).toBe(true);
    expect(tokenMatches(t.toUpperCase(), t)).toBe(false);
    expect(tokenMatches(t + 'a', t)).toBe(false);
    expect(tokenMatches('', t)).toBe(false);
    expect(tokenMatches(undefined, t)).toBe(false);
  });

  it('parses cookies, first of a name winning', () => {
    const c = parseCookies('a=1; lora_studio_session=abc; lora_studio_session=zzz; b');
    expect(c.get('a')).toBe('1');
    expect(c.get('lora_studio_session')).toBe('abc');
  });

  it('allows loopback names for a loopback bind and nothing else', () => {
    const hosts = allowedHostHeaders('127.0.0.1', 5000);
    expect([...hosts].sort()).toEqual(['127.0.0.1:5000', '[::1]:5000', 'localhost:5000']);
  });

  it('allows only the named host for a non-loopback bind', () => {
    expect([...allowedHostHeaders('192.168.1.20', 5000)]).toEqual(['192.168.1.20:5000']);
  });

  it('allows this machine’s own addresses for a wildcard bind', () => {
    const hosts = allowedHostHeaders('0.0.0.0', 5000);
    expect(hosts.has('127.0.0.1:5000')).toBe(true);
    expect(hosts.has(`${os.hostname().toLowerCase()}:5000`)).toBe(true);
    expect(hosts.has('evil.example:5000')).toBe(false);
  });

  it('accepts no Origin or the request’s own origin only', () => {
    expect(originAllowed(fakeRequest({ host: '127.0.0.1:5000' }))).toBe(true);
    expect(originAllowed(fakeRequest({ host: '127.0.0.1:5000', origin: 'http://127.0.0.1:5000' }))).toBe(true);
    expect(originAllowed(fakeRequest({ host: '127.0.0.1:5000', origin: 'http://127.0.0.1:5001' }))).toBe(false);
    expect(originAllowed(fakeRequest({ host: '127.0.0.1:5000', origin: 'null' }))).toBe(false);
  });
});

describe('static path parsing', () => {
  it('splits a clean path and drops empty and "." segments', () => {
    expect(parseRequestPath('/assets/./x%20y.js')).toEqual({ ok: true, segments: ['assets', 'x y.js'] });
  });

  it.each(['/../a', '/%2e%2e/a', '/a/..%2fb', '/a%00', '/a\\b', '/a%5Cb', '/C:/x', '/%E0%A4%A', 'relative'])('refuses %s', (p) => {
    expect(parseRequestPath(p).ok).toBe(false);
  });
});

describe('browser opener', () => {
  it('needs a display on Linux', () => {
    expect(browserOpener('http://x/', 'linux', { PATH: '/usr/bin' })).toEqual({ reason: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' });
  });

  it('needs xdg-open on Linux', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-nopath-'));
    expect(browserOpener('http://x/', 'linux', { DISPLAY: ':0', PATH: empty })).toEqual({ reason: 'xdg-open is not installed' });
    fs.rmSync(empty, { recursive: true });
  });

  it('uses the platform opener on macOS and Windows', () => {
    expect(browserOpener('http://x/', 'darwin', {})).toEqual({ command: 'open', args: ['http://x/'] });
    expect(browserOpener('http://x/', 'win32', {})).toMatchObject({ command: 'rundll32' });
  });
});

describe('web server binding', () => {
  it('warns when bound to a non-loopback address', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-web-bind-'));
    const engine = Engine.open({ dataDir, shell: 'web' });
    const lines: string[] = [];
    const server = await startWebServer(engine, { host: '0.0.0.0', port: 0, staticDir: dataDir, log: (l) => lines.push(l) });
    try {
      expect(lines.join('\n')).toMatch(/warning: .*0\.0\.0\.0.*other machines/);
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
    } finally {
      await engine.close(); // also closes the server (registered with engine.onClose)
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    await expect(server.close()).resolves.toBeUndefined();
  });

  it('does not warn on loopback and refuses a weak token', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-web-bind-'));
    const engine = Engine.open({ dataDir, shell: 'web' });
    const lines: string[] = [];
    try {
      await expect(startWebServer(engine, { token: 'short', staticDir: dataDir })).rejects.toThrow(/at least 16/);
      const server = await startWebServer(engine, { port: 0, staticDir: dataDir, log: (l) => lines.push(l) });
      await server.close();
      expect(lines).toEqual([]);
    } finally {
      await engine.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
