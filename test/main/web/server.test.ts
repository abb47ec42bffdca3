import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Engine } from '../../../src/main/engine';
import { startWebServer, type WebServer } from '../../../src/main/web/server';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const hasBackends = fs.existsSync(path.join(repoRoot, 'src/main/ml/backends.ts'));

const SECRET = 'TOP-SECRET-OUTSIDE-THE-STATIC-ROOT';
const INDEX_HTML = '<!doctype html><html><body><div id="app">LoRA Studio test index</div></body></html>';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let tmp: string;
let engine: Engine;
let server: WebServer;
let hostPort: string;

/** Raw HTTP (fetch would normalise `..` and refuse a custom Host). */
function request(opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const bearer = () => ({ Authorization: `Bearer ${server.token}` });

function call(name: string, args: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return request({
    method: 'POST',
    path: `/api/call/${name}`,
    headers: { ...bearer(), 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(args),
  });
}

/** Open a WebSocket; resolves with the socket once open, or the HTTP status it was refused with. */
function openSocket(headers: Record<string, string>, origin?: string): Promise<{ ws?: WebSocket; refusedWith?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${hostPort}/api/events`, { headers, origin });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refusedWith: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-web-'));
  const site = path.join(tmp, 'site');
  fs.mkdirSync(path.join(site, 'assets', 'nested'), { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), INDEX_HTML);
  fs.writeFileSync(path.join(site, 'assets', 'app.js'), 'console.log("app");');
  fs.writeFileSync(path.join(site, 'assets', 'app.css'), 'body { color: red; }');
  fs.writeFileSync(path.join(site, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  fs.writeFileSync(path.join(site, 'assets', 'tfjs-backend-wasm.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0, 0, 0]));
  fs.writeFileSync(path.join(site, 'assets', 'nested', 'data.json'), '{"nested":true}');
  // Outside the static root: must never be served.
  fs.writeFileSync(path.join(tmp, 'secret.txt'), SECRET);
  fs.mkdirSync(path.join(tmp, 'outside'));
  fs.writeFileSync(path.join(tmp, 'outside', 'secret.txt'), SECRET);
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(site, 'leak.txt'));
  fs.symlinkSync(path.join(tmp, 'outside'), path.join(site, 'leakdir'));

  engine = Engine.open({ dataDir: path.join(tmp, 'data'), shell: 'web' });
  server = await startWebServer(engine, { staticDir: site, port: 0 });
  hostPort = `127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await engine?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('web server: start', () => {
  it('binds 127.0.0.1 on a free port and prints a token URL', () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    expect(server.token).toMatch(/^[0-9a-f]{64}$/);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`);
  });
});

describe('web server: token', () => {
  it('refuses static files, API calls and the event socket without a token (401)', async () => {
    const page = await request({ path: '/', headers: { Accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('printed in the terminal');
    expect(page.body).not.toContain('LoRA Studio test index');
    expect((await request({ path: '/assets/app.js' })).status).toBe(401);
    const api = await request({ method: 'POST', path: '/api/call/settings.get', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body)).toHaveProperty('error');
    expect((await openSocket({})).refusedWith).toBe(401);
  });

  it('refuses a wrong token in the URL, the Bearer header and the cookie (401)', async () => {
    const wrong = 'f'.repeat(64);
    const viaUrl = await request({ path: `/?token=${wrong}` });
    expect(viaUrl.status).toBe(401);
    expect(viaUrl.headers['set-cookie']).toBeUndefined();
    expect((await request({ path: '/', headers: { Authorization: `Bearer ${wrong}` } })).status).toBe(401);
    expect((await request({ path: '/', headers: { Cookie: `lora_studio_session=${wrong}` } })).status).toBe(401);
    expect((await request({ path: '/', headers: { Authorization: `Bearer ${server.token.slice(0, 63)}` } })).status).toBe(401);
    expect((await openSocket({ Authorization: `Bearer ${wrong}` })).refusedWith).toBe(401);
  });

  it('trades the right token for an HttpOnly SameSite=Strict cookie and redirects to /', async () => {
    const res = await request({ path: `/?token=${server.token}` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/');
    const cookie = res.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^lora_studio_session=${server.token};`));
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*SameSite=Strict/i);
    expect(cookie).toMatch(/;\s*Path=\//);

    const session = cookie.split(';')[0];
    const page = await request({ path: '/', headers: { Cookie: session } });
    expect(page.status).toBe(200);
    expect(page.body).toBe(INDEX_HTML);
    const api = await request({ method: 'POST', path: '/api/call/settings.get', headers: { Cookie: session, 'Content-Type': 'application/json' }, body: '{}' });
    expect(api.status).toBe(200);
    const { ws } = await openSocket({ Cookie: session });
    expect(ws?.readyState).toBe(WebSocket.OPEN);
    ws?.close();
  });

  it('never redirects off-site after the token exchange', async () => {
    const res = await request({ path: `//evil.example/?token=${server.token}` });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/evil.example');
  });

  it('accepts Authorization: Bearer', async () => {
    const res = await request({ path: '/assets/app.js', headers: bearer() });
    expect(res.status).toBe(200);
    expect(res.body).toBe('console.log("app");');
  });
});

describe('web server: Host and Origin', () => {
  it('refuses a foreign Host header even with the token (403, DNS rebinding)', async () => {
    for (const host of [`evil.example:${server.port}`, 'evil.example', `127.0.0.1:${server.port + 1}`, `127.0.0.1.evil.example:${server.port}`]) {
      const res = await request({ path: '/', headers: { ...bearer(), Host: host } });
      expect(res.status, host).toBe(403);
      expect(res.body).not.toContain('LoRA Studio test index');
    }
    const ws = await openSocket({ ...bearer(), Host: `evil.example:${server.port}` });
    expect(ws.refusedWith).toBe(403);
  });

  it('accepts the loopback names of the bound port', async () => {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`]) {
      expect((await request({ path: '/', headers: { ...bearer(), Host: host } })).status, host).toBe(200);
    }
  });

  it('refuses a POST from a foreign Origin (403) and accepts the same origin', async () => {
    for (const origin of ['http://evil.example', 'null', `http://localhost:${server.port + 1}`, `https://127.0.0.1:${server.port}`]) {
      const res = await call('settings.get', {}, { Origin: origin });
      expect(res.status, origin).toBe(403);
    }
    const same = await call('settings.get', {}, { Origin: `http://${hostPort}` });
    expect(same.status).toBe(200);
  });

  it('refuses a WebSocket upgrade from a foreign Origin and accepts the same origin', async () => {
    expect((await openSocket(bearer(), 'http://evil.example')).refusedWith).toBe(403);
    const { ws } = await openSocket(bearer(), `http://${hostPort}`);
    expect(ws?.readyState).toBe(WebSocket.OPEN);
    ws?.close();
  });

  it('refuses a cross-site form body type (415)', async () => {
    const res = await call('settings.get', {}, { 'Content-Type': 'text/plain' });
    expect(res.status).toBe(415);
  });
});

describe('web server: static files', () => {
  it('serves each file type with its Content-Type, nosniff and the CSP', async () => {
    const cases: [string, string][] = [
      ['/', 'text/html'],
      ['/index.html', 'text/html'],
      ['/assets/app.js', 'text/javascript'],
      ['/assets/app.css', 'text/css'],
      ['/assets/logo.svg', 'image/svg+xml'],
      ['/assets/tfjs-backend-wasm.wasm', 'application/wasm'],
      ['/assets/nested/data.json', 'application/json'],
    ];
    for (const [p, type] of cases) {
      const res = await request({ path: p, headers: bearer() });
      expect(res.status, p).toBe(200);
      expect(res.headers['content-type'], p).toContain(type);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    const csp = (await request({ path: '/', headers: bearer() })).headers['content-security-policy'];
    expect(csp).toBe(
      `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://${hostPort}; object-src 'none'; frame-ancestors 'none'; base-uri 'none'`,
    );
    expect((await request({ path: '/assets/nested/data.json', headers: bearer() })).body).toBe('{"nested":true}');
  });

  it('refuses path traversal with 400/404 and never leaks the file', async () => {
    const attempts = [
      '/../package.json',
      '/../secret.txt',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/%2e%2e/secret.txt',
      '/..%2fpackage.json',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/%00',
      '/index.html%00.js',
      '/..\\secret.txt',
      '/..%5csecret.txt',
      '/assets\\..\\..\\secret.txt',
      '/%c0%ae%c0%ae/secret.txt',
      '/C:/Windows/win.ini',
      '/leak.txt',
      '/leakdir/secret.txt',
      `/${encodeURIComponent(path.join(tmp, 'secret.txt'))}`,
    ];
    for (const p of attempts) {
      const res = await request({ path: p, headers: bearer() });
      expect([400, 404], p).toContain(res.status);
      expect(res.body, p).not.toContain(SECRET);
      expect(res.body, p).not.toContain('"name": "lora-studio"');
      expect(res.body, p).not.toContain('root:');
    }
    // An absolute path in the URL stays inside the root (here: no such page → the app's index).
    const abs = await request({ path: '//etc/passwd', headers: bearer() });
    expect(abs.body).not.toContain('root:');
  });

  it('never lists a folder', async () => {
    for (const p of ['/assets', '/assets/', '/assets/nested/']) {
      const res = await request({ path: p, headers: bearer() });
      expect(res.status, p).toBe(404);
      expect(res.body, p).not.toContain('app.js');
      expect(res.body, p).not.toContain('data.json');
    }
  });

  it('answers app routes with index.html and missing files with 404', async () => {
    const route = await request({ path: '/runs/12', headers: bearer() });
    expect(route.status).toBe(200);
    expect(route.body).toBe(INDEX_HTML);
    expect((await request({ path: '/assets/missing.js', headers: bearer() })).status).toBe(404);
    expect((await request({ path: '/assets/missing', headers: bearer() })).status).toBe(404);
    expect((await request({ path: '/missing.css', headers: bearer() })).status).toBe(404);
  });

  it('answers 503 naming the build command when the UI is not built', async () => {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const other = await startWebServer(engine, { staticDir: empty, port: 0 });
    try {
      const res = await new Promise<Reply>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: other.port, path: '/', headers: { Authorization: `Bearer ${other.token}` }, agent: false }, (r) => {
            let body = '';
            r.on('data', (c: Buffer) => (body += c.toString()));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
          })
          .on('error', reject);
      });
      expect(res.status).toBe(503);
      expect(res.body).toContain('npm run build:web');
    } finally {
      await other.close();
    }
  });
});

describe('web server: contract calls', () => {
  it('answers an unknown call with 400 and a message', async () => {
    const res = await call('nope.nothing', {});
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: 'unknown call "nope.nothing"' });
  });

  it('answers invalid arguments with 400 and the validation message', async () => {
    const res = await call('settings.update', { theme: 'purple' });
    expect(res.status).toBe(400);
    const { error } = JSON.parse(res.body) as { error: string };
    expect(error).toContain('invalid arguments for settings.update');
    expect(error).toContain('theme');
    expect(error).toMatch(/system.*light.*dark/);
    const extra = await call('settings.get', { surprise: 1 });
    expect(extra.status).toBe(400);
  });

  it('answers a body that is not JSON with 400', async () => {
    const res = await request({ method: 'POST', path: '/api/call/settings.get', headers: { ...bearer(), 'Content-Type': 'application/json' }, body: '{not json' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toContain('not valid JSON');
  });

  it('refuses a body over the size limit with 413', async () => {
    const res = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.port, method: 'POST', path: '/api/call/settings.get', headers: { ...bearer(), 'Content-Type': 'application/json', 'Content-Length': String(20 * 1024 * 1024) }, agent: false },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
        },
      );
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(res.status).toBe(413);
  });

  it('answers GET on a call with 405', async () => {
    expect((await request({ path: '/api/call/settings.get', headers: bearer() })).status).toBe(405);
  });

  it('runs settings.update and settings.get', async () => {
    const up = await call('settings.update', { theme: 'light' });
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body).result.theme).toBe('light');
    const get = await call('settings.get', {});
    expect(JSON.parse(get.body)).toEqual({ result: { theme: 'light', backend: null } });
  });

  it.skipIf(!hasBackends)('answers system.status with the data dir (skipped until src/main/ml/backends.ts exists)', async () => {
    const res = await call('system.status', {});
    expect(res.status).toBe(200);
    const { result } = JSON.parse(res.body) as { result: { dataDir: string; shell: string } };
    expect(result.dataDir).toBe(path.join(tmp, 'data'));
    expect(result.shell).toBe('web');
  });
});

describe('web server: events', () => {
  it('forwards settings.changed to an open authenticated WebSocket', async () => {
    const { ws } = await openSocket(bearer());
    if (!ws) throw new Error('socket refused');
    const frame = new Promise<{ event: string; payload: { theme: string } }>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { event: string; payload: { theme: string } };
        if (msg.event === 'settings.changed') resolve(msg);
      });
    });
    expect((await call('settings.update', { theme: 'dark' })).status).toBe(200);
    const msg = await frame;
    expect(msg).toEqual({ event: 'settings.changed', payload: { theme: 'dark', backend: null } });
    ws.close();
  });

  it('unsubscribes a closed socket from the engine', async () => {
    const bus = engine.events;
    const original = bus.onAny;
    let subscribed = 0;
    bus.onAny = (listener) => {
      subscribed++;
      const off = original.call(bus, listener);
      return () => {
        subscribed--;
        off();
      };
    };
    try {
      const { ws } = await openSocket(bearer());
      if (!ws) throw new Error('socket refused');
      expect(subscribed).toBe(1);
      ws.close();
      for (let i = 0; i < 100 && subscribed > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(subscribed).toBe(0);
    } finally {
      bus.onAny = original;
    }
  });
});
