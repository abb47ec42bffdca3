/**
 * The renderer's one door to the engine. Picks the transport once: the desktop preload's
 * `window.loraStudio` when present (Electron), else HTTP + WebSocket to the server that served this
 * page. Stores call `api.call(name, args)` and `api.on(event, listener)`, typed by the contract;
 * components never import this module.
 */
import { createDesktopTransport } from './desktop';
import { createWebTransport, type SocketLike } from './web';
import type { Transport } from './transport';

export type { Transport } from './transport';
export type { ConnectionState, ConnectionStatus } from './connection';
export { ApiError } from './errors';

function pickTransport(): Transport {
  if (window.loraStudio) return createDesktopTransport(window.loraStudio);
  return createWebTransport({
    origin: window.location.origin,
    fetch: (url, init) => window.fetch(url, init),
    // The handlers web.ts assigns take fewer fields than the DOM passes; the cast only widens them.
    openSocket: (url) => new WebSocket(url) as unknown as SocketLike,
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    now: () => Date.now(),
  });
}

export const api: Transport = pickTransport();
