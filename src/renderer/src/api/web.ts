/**
 * The web transport (the page served by `lora-studio serve` / `npm start` without Electron):
 * calls are `POST /api/call/<name>` with the arguments as JSON, answered `{"result"}` or `{"error"}`;
 * engine events arrive on the WebSocket `/api/events` as `{"event", "payload"}` frames. The session
 * cookie (set when the printed ?token= URL was opened) authenticates both.
 *
 * The socket reconnects by itself with exponential backoff (0.5 s doubling to 10 s); the connection
 * signal tells the indicator what is going on.
 */
import type { CallArgs, CallName, CallResult, EventName, EventPayload, Unsubscribe } from '../../../shared/contract';
import { ConnectionSignal } from './connection';
import { ApiError } from './errors';
import type { Transport } from './transport';

export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(): void;
}

export interface WebTransportDeps {
  /** The page's origin, e.g. `http://127.0.0.1:5123`. */
  origin: string;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  openSocket: (url: string) => SocketLike;
  setTimeout: (fn: () => void, ms: number) => unknown;
  now: () => number;
}

export const UNAUTHORIZED_MESSAGE =
  'This browser has no session with the LoRA Studio server. Open the URL printed by `npm start` or `lora-studio serve` (the one ending in ?token=…).';

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export function retryDelay(attempt: number): number {
  return Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** attempt);
}

export function createWebTransport(deps: WebTransportDeps): Transport & { close(): void } {
  const connection = new ConnectionSignal({ state: 'connecting' });
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const socketUrl = deps.origin.replace(/^http/, 'ws') + '/api/events';
  let socket: SocketLike | null = null;
  let attempt = 0;
  let closed = false;

  function dispatch(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: { event?: unknown; payload?: unknown };
    try {
      message = JSON.parse(data) as typeof message;
    } catch {
      console.warn('lora-studio: ignored a malformed event frame');
      return;
    }
    if (typeof message.event !== 'string') return;
    for (const listener of listeners.get(message.event) ?? []) {
      try {
        listener(message.payload);
      } catch (err) {
        console.error(`lora-studio: listener for ${message.event} failed`, err);
      }
    }
  }

  /** A WebSocket refused at the upgrade shows only "closed"; a plain GET on its path says why. */
  async function diagnose(): Promise<{ unauthorized: boolean; detail: string }> {
    try {
      const res = await deps.fetch(`${deps.origin}/api/events`, { method: 'GET', credentials: 'same-origin' });
      if (res.status === 401) return { unauthorized: true, detail: UNAUTHORIZED_MESSAGE };
      return { unauthorized: false, detail: `The live event stream closed (the server answered ${res.status}).` };
    } catch {
      return { unauthorized: false, detail: 'The LoRA Studio server cannot be reached: it was stopped, or this computer is offline.' };
    }
  }

  function connect(): void {
    if (closed) return;
    const ws = deps.openSocket(socketUrl);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      connection.set({ state: 'connected' });
    };
    ws.onmessage = (ev) => dispatch(ev.data);
    ws.onerror = () => {
      // 'close' always follows and handles the retry.
    };
    ws.onclose = () => {
      if (socket !== ws || closed) return;
      socket = null;
      const delay = retryDelay(attempt++);
      const retryAt = deps.now() + delay;
      const wasConnected = connection.get().state === 'connected';
      void diagnose().then(({ unauthorized, detail }) => {
        if (closed || socket) return;
        connection.set({ state: unauthorized ? 'unauthorized' : wasConnected || attempt > 1 ? 'reconnecting' : 'connecting', detail, retryAt });
      });
      deps.setTimeout(connect, delay);
    };
  }

  connect();

  return {
    kind: 'web',
    connection,
    async call<K extends CallName>(name: K, args: CallArgs<K>): Promise<CallResult<K>> {
      let res: Response;
      try {
        res = await deps.fetch(`${deps.origin}/api/call/${encodeURIComponent(name)}`, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(args ?? {}),
        });
      } catch (err) {
        throw new ApiError(`cannot reach the LoRA Studio server (${err instanceof Error ? err.message : String(err)}); is it still running?`, 0, name);
      }
      const text = await res.text();
      let body: { result?: unknown; error?: unknown } | undefined;
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        body = undefined;
      }
      if (res.ok && body && 'result' in body) return body.result as CallResult<K>;
      if (res.status === 401) {
        connection.set({ state: 'unauthorized', detail: UNAUTHORIZED_MESSAGE });
        throw new ApiError(UNAUTHORIZED_MESSAGE, 401, name);
      }
      const message = typeof body?.error === 'string' ? body.error : `the server answered ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
      throw new ApiError(message, res.status, name);
    },
    on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): Unsubscribe {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      const l = listener as (payload: unknown) => void;
      set.add(l);
      return () => {
        set.delete(l);
      };
    },
    close() {
      closed = true;
      socket?.close();
      socket = null;
    },
  };
}
