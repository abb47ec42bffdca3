/** The desktop transport: the preload's `window.loraStudio` (Electron IPC underneath). */
import type { CallArgs, CallName, CallResult, EventName, EventPayload } from '../../../shared/contract';
import type { DesktopBridge } from '../../../shared/desktop-bridge';
import { ConnectionSignal } from './connection';
import { ApiError } from './errors';
import type { Transport } from './transport';

export function createDesktopTransport(bridge: DesktopBridge): Transport {
  // IPC to the main process has no connection to lose.
  const connection = new ConnectionSignal({ state: 'connected' });
  return {
    kind: 'desktop',
    connection,
    async call<K extends CallName>(name: K, args: CallArgs<K>): Promise<CallResult<K>> {
      const invoke = bridge.calls[name] as ((a: CallArgs<K>) => Promise<CallResult<K>>) | undefined;
      if (!invoke) throw new ApiError(`the desktop app does not offer "${name}" (preload and renderer are from different builds)`, null, name);
      try {
        return await invoke(args);
      } catch (err) {
        throw new ApiError(err instanceof Error ? err.message : String(err), null, name);
      }
    },
    on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void) {
      return bridge.on(name, listener);
    },
  };
}
