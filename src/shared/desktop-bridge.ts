/**
 * What the desktop preload puts on `window.loraStudio`: one invoker per contract call (built from
 * the contract's call names, so the page can reach nothing else) and an event subscription.
 * The IPC reply envelope is how the main process answers each `call:<name>` invoke.
 */
import type { EngineApi, EventName, EventPayload, Unsubscribe } from './contract';

export interface DesktopBridge {
  readonly calls: EngineApi;
  on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void): Unsubscribe;
}

/** The main process never rejects an invoke: Electron would wrap the message in its own prefix. */
export type IpcReply = { ok: true; result: unknown } | { ok: false; error: string; status: number };

/** Sent on the 'event' channel for every engine event. */
export interface IpcEventMessage {
  event: EventName;
  payload: unknown;
}

export const IPC_EVENT_CHANNEL = 'event';
export const ipcCallChannel = (name: string): string => `call:${name}`;
