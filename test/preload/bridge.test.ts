import { describe, expect, it } from 'vitest';
import { buildDesktopBridge, type BridgeIpc } from '../../src/preload/bridge';
import { callNames } from '../../src/shared/contract';

type Listener = (event: unknown, message: unknown) => void;

function fakeIpc(reply: (channel: string, args: unknown) => unknown) {
  const invoked: { channel: string; args: unknown }[] = [];
  const listeners = new Map<string, Set<Listener>>();
  const ipc: BridgeIpc = {
    async invoke(channel, args) {
      invoked.push({ channel, args });
      return reply(channel, args);
    },
    on(channel, listener) {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(listener);
    },
    removeListener(channel, listener) {
      listeners.get(channel)?.delete(listener);
    },
  };
  const send = (channel: string, message: unknown) => listeners.get(channel)?.forEach((l) => l({}, message));
  return { ipc, invoked, listeners, send };
}

describe('desktop preload bridge', () => {
  it('has exactly one invoker per contract call and nothing that names a channel', () => {
    const bridge = buildDesktopBridge(fakeIpc(() => ({ ok: true, result: null })).ipc);
    expect(Object.keys(bridge.calls).sort()).toEqual([...callNames].sort());
    expect(Object.keys(bridge).sort()).toEqual(['calls', 'on']);
    expect('invoke' in bridge).toBe(false);
    expect(Object.isFrozen(bridge)).toBe(true);
    expect(Object.isFrozen(bridge.calls)).toBe(true);
  });

  it('sends each call on its own channel and resolves with the result', async () => {
    const { ipc, invoked } = fakeIpc(() => ({ ok: true, result: { theme: 'dark', backend: null } }));
    const bridge = buildDesktopBridge(ipc);
    await expect(bridge.calls['settings.update']({ theme: 'dark' })).resolves.toEqual({ theme: 'dark', backend: null });
    await bridge.calls['settings.get']({});
    expect(invoked).toEqual([
      { channel: 'call:settings.update', args: { theme: 'dark' } },
      { channel: 'call:settings.get', args: {} },
    ]);
  });

  it('rejects with the engine message alone, and on a malformed reply', async () => {
    const { ipc } = fakeIpc((channel) =>
      channel === 'call:settings.update' ? { ok: false, error: 'invalid arguments for settings.update: theme: Invalid option', status: 400 } : 'junk',
    );
    const bridge = buildDesktopBridge(ipc);
    await expect(bridge.calls['settings.update']({ theme: 'dark' })).rejects.toThrow(/^invalid arguments for settings\.update: theme: Invalid option$/);
    await expect(bridge.calls['settings.get']({})).rejects.toThrow('malformed reply from the engine for settings.get');
  });

  it('delivers only the subscribed event, until unsubscribed', () => {
    const { ipc, send, listeners } = fakeIpc(() => null);
    const bridge = buildDesktopBridge(ipc);
    const got: unknown[] = [];
    const off = bridge.on('settings.changed', (p) => got.push(p));
    send('event', { event: 'models.changed', payload: { id: 1 } });
    send('event', { event: 'settings.changed', payload: { theme: 'light', backend: null } });
    expect(got).toEqual([{ theme: 'light', backend: null }]);
    off();
    expect(listeners.get('event')?.size).toBe(0);
    send('event', { event: 'settings.changed', payload: { theme: 'dark', backend: null } });
    expect(got).toHaveLength(1);
  });
});
