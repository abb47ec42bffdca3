import { describe, expect, it } from 'vitest';
import { createDesktopTransport } from '../../src/renderer/src/api/desktop';
import { ApiError } from '../../src/renderer/src/api/errors';
import type { DesktopBridge } from '../../src/shared/desktop-bridge';

function bridgeWith(calls: Record<string, (args: unknown) => Promise<unknown>>): DesktopBridge {
  return { calls: calls as unknown as DesktopBridge['calls'], on: () => () => {} };
}

describe('desktop transport', () => {
  it('calls the preload invoker of that name and is always connected', async () => {
    const seen: unknown[] = [];
    const t = createDesktopTransport(
      bridgeWith({
        'settings.update': async (a) => {
          seen.push(a);
          return { theme: 'dark', backend: null };
        },
      }),
    );
    expect(t.kind).toBe('desktop');
    expect(t.connection.get().state).toBe('connected');
    await expect(t.call('settings.update', { theme: 'dark' })).resolves.toEqual({ theme: 'dark', backend: null });
    expect(seen).toEqual([{ theme: 'dark' }]);
  });

  it('turns rejections into ApiError with the message, and names a call the preload lacks', async () => {
    const t = createDesktopTransport(bridgeWith({ 'settings.get': () => Promise.reject(new Error('database is locked')) }));
    const err = await t.call('settings.get', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ message: 'database is locked', status: null, call: 'settings.get' });
    await expect(t.call('system.status', {})).rejects.toThrow(/does not offer "system.status"/);
  });
});
