/**
 * Builds `window.loraStudio` from the contract: one invoker per call name, each bound to its own IPC
 * channel `call:<name>`, and `on(event, listener)`. The page never gets ipcRenderer or a way to name
 * a channel. Kept apart from index.ts (which touches electron) so it can be tested in plain Node.
 */
import { callNames, type EngineApi, type EventName, type EventPayload } from '../shared/contract';
import { IPC_EVENT_CHANNEL, ipcCallChannel, type DesktopBridge, type IpcEventMessage, type IpcReply } from '../shared/desktop-bridge';

/** The part of Electron's ipcRenderer the bridge uses. */
export interface BridgeIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, message: unknown) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, message: unknown) => void): unknown;
}

function unwrap(name: string, reply: unknown): unknown {
  const r = reply as IpcReply | undefined;
  if (r && r.ok === true) return r.result;
  if (r && r.ok === false) throw new Error(r.error);
  throw new Error(`malformed reply from the engine for ${name}`);
}

export function buildDesktopBridge(ipc: BridgeIpc): DesktopBridge {
  const calls: Record<string, (args: unknown) => Promise<unknown>> = {};
  for (const name of callNames) {
    const channel = ipcCallChannel(name);
    calls[name] = async (args: unknown) => unwrap(name, await ipc.invoke(channel, args ?? {}));
  }
  return Object.freeze({
    calls: Object.freeze(calls) as EngineApi,
    on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void) {
      const handler = (_event: unknown, message: unknown) => {
        const m = message as IpcEventMessage;
        if (m && m.event === event) listener(m.payload as EventPayload<K>);
      };
      ipc.on(IPC_EVENT_CHANNEL, handler);
      return () => {
        ipc.removeListener(IPC_EVENT_CHANNEL, handler);
      };
    },
  });
}
