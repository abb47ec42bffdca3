import { describe, expect, it } from 'vitest';
import { createWebTransport, retryDelay, UNAUTHORIZED_MESSAGE, type SocketLike, type WebTransportDeps } from '../../src/renderer/src/api/web';
import { ApiError } from '../../src/renderer/src/api/errors';
import type { ConnectionStatus } from '../../src/renderer/src/api/connection';

class FakeSocket implements SocketLike {
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  closed = false;
  constructor(readonly url: string) {}
  open() {
    this.onopen?.({});
  }
  message(data: unknown) {
    this.onmessage?.({ data });
  }
  drop() {
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }
  close() {
    this.closed = true;
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function setup(fetchImpl: WebTransportDeps['fetch'] = async () => json(200, { result: null })) {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const requests: { url: string; init: RequestInit }[] = [];
  let clock = 1_000_000;
  const transport = createWebTransport({
    origin: 'http://127.0.0.1:5123',
    fetch: (url, init) => {
      requests.push({ url, init });
      return fetchImpl(url, init);
    },
    openSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    now: () => clock,
  });
  const states: ConnectionStatus[] = [];
  transport.connection.subscribe((s) => states.push(s));
  return { transport, sockets, timers, requests, states, tick: (ms: number) => (clock += ms) };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('web transport: calls', () => {
  it('POSTs the arguments as JSON to /api/call/<name> and returns the result', async () => {
    const { transport, requests } = setup(async () => json(200, { result: { theme: 'dark', backend: null } }));
    await expect(transport.call('settings.update', { theme: 'dark' })).resolves.toEqual({ theme: 'dark', backend: null });
    expect(requests[0].url).toBe('http://127.0.0.1:5123/api/call/settings.update');
    expect(requests[0].init).toMatchObject({ method: 'POST', credentials: 'same-origin', body: '{"theme":"dark"}' });
    expect(new Headers(requests[0].init.headers).get('content-type')).toBe('application/json');
  });

  it('turns {"error"} answers into ApiError with the server message and status', async () => {
    const { transport } = setup(async () => json(400, { error: 'invalid arguments for settings.update: theme: Invalid option' }));
    const err = await transport.call('settings.update', { theme: 'dark' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ message: 'invalid arguments for settings.update: theme: Invalid option', status: 400, call: 'settings.update' });
  });

  it('explains a non-JSON error page and an unreachable server', async () => {
    const { transport } = setup(async () => new Response('upstream exploded', { status: 502, statusText: 'Bad Gateway' }));
    await expect(transport.call('settings.get', {})).rejects.toThrow('the server answered 502 Bad Gateway: upstream exploded');
    const down = setup(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(down.transport.call('settings.get', {})).rejects.toMatchObject({ status: 0, message: expect.stringMatching(/cannot reach the LoRA Studio server \(Failed to fetch\)/) });
  });

  it('on 401 says how to get a session and shows it on the connection', async () => {
    const { transport } = setup(async () => json(401, { error: 'missing or wrong access token' }));
    await expect(transport.call('system.status', {})).rejects.toMatchObject({ status: 401, message: UNAUTHORIZED_MESSAGE });
    expect(transport.connection.get().state).toBe('unauthorized');
  });
});

describe('web transport: events and reconnection', () => {
  it('opens /api/events and hands each frame to the listeners of its event', () => {
    const { transport, sockets } = setup();
    expect(sockets[0].url).toBe('ws://127.0.0.1:5123/api/events');
    sockets[0].open();
    expect(transport.connection.get()).toEqual({ state: 'connected' });
    const got: unknown[] = [];
    const off = transport.on('settings.changed', (p) => got.push(p));
    sockets[0].message(JSON.stringify({ event: 'models.changed', payload: { id: 3 } }));
    sockets[0].message(JSON.stringify({ event: 'settings.changed', payload: { theme: 'dark', backend: null } }));
    sockets[0].message('not json');
    expect(got).toEqual([{ theme: 'dark', backend: null }]);
    off();
    sockets[0].message(JSON.stringify({ event: 'settings.changed', payload: { theme: 'light', backend: null } }));
    expect(got).toHaveLength(1);
  });

  it('reconnects with growing delays, says why it is down, and keeps the listeners', async () => {
    // The diagnosis GET on /api/events: the server is gone.
    const { transport, sockets, timers, states } = setup(async () => {
      throw new TypeError('Failed to fetch');
    });
    const got: unknown[] = [];
    transport.on('settings.changed', (p) => got.push(p));
    sockets[0].open();
    sockets[0].drop();
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([500]);
    expect(states.at(-1)).toMatchObject({ state: 'reconnecting', detail: expect.stringMatching(/cannot be reached/), retryAt: 1_000_500 });

    timers[0].fn();
    sockets[1].drop();
    await flush();
    timers[1].fn();
    sockets[2].drop();
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([500, 1000, 2000]);

    timers[2].fn();
    sockets[3].open();
    expect(transport.connection.get().state).toBe('connected');
    sockets[3].message(JSON.stringify({ event: 'settings.changed', payload: { theme: 'light', backend: null } }));
    expect(got).toEqual([{ theme: 'light', backend: null }]);
    // A good connection resets the backoff.
    sockets[3].drop();
    await flush();
    expect(timers.at(-1)?.ms).toBe(500);
  });

  it('tells a refused socket (no session) from a stopped server', async () => {
    const { sockets, states } = setup(async (url) => (url.endsWith('/api/events') ? json(401, { error: 'missing or wrong access token' }) : json(200, { result: null })));
    sockets[0].drop();
    await flush();
    expect(states.at(-1)).toMatchObject({ state: 'unauthorized', detail: UNAUTHORIZED_MESSAGE });
  });

  it('stops for good on close()', async () => {
    const { transport, sockets, timers } = setup();
    sockets[0].open();
    transport.close();
    expect(sockets[0].closed).toBe(true);
    sockets[0].drop();
    await flush();
    expect(timers).toHaveLength(0);
  });

  it('caps the retry delay at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(retryDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });
});
