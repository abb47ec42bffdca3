/**
 * The one contract between the renderer and the engine: every call the renderer can make
 * (name → argument schema + result type) and every event it can receive (name → payload type).
 *
 * Both transports (Electron IPC through the preload, HTTP + WebSocket in the web shell) are built
 * from these two objects; the engine's handler object is typed against them (src/main/handlers.ts).
 * Each domain declares its part in its own file; add a domain by spreading it in here.
 */
import type { z } from 'zod';
import type { CallSpec, EventSpec } from './define';
import { systemCalls, systemEvents } from './system';
import { adaptersCalls, adaptersEvents } from './adapters';
import { exportsCalls, exportsEvents } from './exports';
import { datasetsCalls, datasetsEvents } from './datasets';
import { dialogCalls, dialogEvents } from './dialog';
import { modelsCalls, modelsEvents } from './models';
import { generateCalls, generateEvents } from './generate';
import { runsCalls, runsEvents } from './runs';
import { runsLibraryCalls, runsLibraryEvents } from './runs-library';

export const calls = {
  ...adaptersCalls,
  ...exportsCalls,
  ...datasetsCalls,
  ...runsCalls,
  ...runsLibraryCalls,
  ...systemCalls,
  ...dialogCalls,
  ...modelsCalls,
  ...generateCalls,
} as const;

export const events = {
  ...adaptersEvents,
  ...exportsEvents,
  ...datasetsEvents,
  ...runsEvents,
  ...runsLibraryEvents,
  ...systemEvents,
  ...dialogEvents,
  ...modelsEvents,
  ...generateEvents,
} as const;

export type Calls = typeof calls;
export type CallName = keyof Calls & string;
export type CallArgs<K extends CallName> = z.input<Calls[K]['args']>;
export type ParsedCallArgs<K extends CallName> = z.output<Calls[K]['args']>;
export type CallResult<K extends CallName> = Calls[K] extends CallSpec<z.ZodType, infer R> ? R : never;

export type Events = typeof events;
export type EventName = keyof Events & string;
export type EventPayload<K extends EventName> = Events[K] extends EventSpec<infer P> ? P : never;

export const callNames = Object.keys(calls) as CallName[];
export const eventNames = Object.keys(events) as EventName[];

export function isCallName(name: string): name is CallName {
  return Object.prototype.hasOwnProperty.call(calls, name);
}

/** The API the renderer sees, whatever the transport. */
export type EngineApi = {
  [K in CallName]: (args: CallArgs<K>) => Promise<CallResult<K>>;
};

export type Unsubscribe = () => void;

export interface EngineTransport {
  call<K extends CallName>(name: K, args: CallArgs<K>): Promise<CallResult<K>>;
  on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): Unsubscribe;
}

export * from './system';
export * from './datasets';
export * from './models';
export * from './generate';
export * from './dialog';
export * from './runs';
export * from './runs-library';
export * from './adapters';
export * from './exports';
