import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent } from 'electron';
import { appUrlMatcher, registerIpcHandlers } from '../../../src/main/desktop/ipc';
import { desktopDataDir } from '../../../src/main/desktop/options';
import { Engine } from '../../../src/main/engine';
import { createHandlers } from '../../../src/main/handlers';
import { callNames } from '../../../src/shared/contract';

const APP_URL = 'file:///opt/lora-studio/out/renderer/index.html';

type Handler = (event: IpcMainInvokeEvent, args: unknown) => Promise<unknown>;

function fakeElectron() {
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle: (channel: string, fn: Handler) => {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, fn);
    },
    removeHandler: (channel: string) => handlers.delete(channel),
  } as unknown as IpcMain;
  const mainFrame = { url: `${APP_URL}#/settings`, processId: 4, routingId: 1 };
  const webContents = { id: 7, mainFrame };
  let destroyed = false;
  const window = { webContents, isDestroyed: () => destroyed } as unknown as BrowserWindow;
  const ourEvent = () => ({ sender: webContents, senderFrame: mainFrame }) as unknown as IpcMainInvokeEvent;
  return {
    ipcMain,
    window,
    handlers,
    ourEvent,
    mainFrame,
    webContents,
    destroy: () => (destroyed = true),
    invoke: (channel: string, args: unknown, event: IpcMainInvokeEvent = ourEvent()) => handlers.get(channel)!(event, args),
  };
}

describe('registerIpcHandlers', () => {
  let dataDir: string;
  let engine: Engine;

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-studio-ipc-'));
    engine = Engine.open({ dataDir, shell: 'desktop' });
  });
  afterEach(async () => {
    await engine.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers one channel per contract call, and removes them all', () => {
    const e = fakeElectron();
    const unregister = registerIpcHandlers(e.ipcMain, createHandlers(engine), e.window, appUrlMatcher(APP_URL));
    expect([...e.handlers.keys()].sort()).toEqual(callNames.map((n) => `call:${n}`).sort());
    unregister();
    expect(e.handlers.size).toBe(0);
  });

  it('answers our window through the contract: results, validation errors, engine errors', async () => {
    const e = fakeElectron();
    registerIpcHandlers(e.ipcMain, createHandlers(engine), e.window, appUrlMatcher(APP_URL));
    await expect(e.invoke('call:settings.update', { theme: 'dark' })).resolves.toEqual({ ok: true, result: { theme: 'dark', backend: null } });
    await expect(e.invoke('call:settings.get', undefined)).resolves.toEqual({ ok: true, result: { theme: 'dark', backend: null } });
    const invalid = (await e.invoke('call:settings.update', { theme: 'purple' })) as { ok: false; error: string; status: number };
    expect(invalid.ok).toBe(false);
    expect(invalid.status).toBe(400);
    expect(invalid.error).toMatch(/^invalid arguments for settings\.update: theme: /);
    const extra = (await e.invoke('call:settings.get', { sneaky: 1 })) as { ok: false; error: string };
    expect(extra.error).toMatch(/invalid arguments for settings\.get/);
    // The web-only answer of the generic handler set (desktop index.ts replaces it with the native picker).
    const picker = (await e.invoke('call:dialog.pickFolder', {})) as { ok: false; error: string; status: number };
    expect(picker).toMatchObject({ ok: false, status: 400 });
    const filePicker = (await e.invoke('call:dialog.pickFile', { filters: [{ name: 'Datasets', extensions: ['jsonl'] }] })) as { ok: false; error: string; status: number };
    expect(filePicker).toMatchObject({ ok: false, status: 400 });
    expect(filePicker.error).toMatch(/file picker exists only in the desktop app/);
  });

  it('refuses calls that do not come from our window’s main frame on our page', async () => {
    const e = fakeElectron();
    registerIpcHandlers(e.ipcMain, createHandlers(engine), e.window, appUrlMatcher(APP_URL));
    const cases: [string, unknown, RegExp][] = [
      ['another window', { sender: { id: 99 }, senderFrame: e.mainFrame }, /not LoRA Studio/],
      ['a sub-frame', { sender: e.webContents, senderFrame: { ...e.mainFrame, routingId: 2 } }, /sub-frame/],
      ['a frame in another process', { sender: e.webContents, senderFrame: { ...e.mainFrame, processId: 5 } }, /sub-frame/],
      ['a page that navigated away', { sender: e.webContents, senderFrame: { ...e.mainFrame, url: 'https://evil.example/' } }, /unexpected page \(https:\/\/evil\.example\/\)/],
      ['another local file', { sender: e.webContents, senderFrame: { ...e.mainFrame, url: 'file:///tmp/evil.html' } }, /unexpected page/],
      ['a vanished frame', { sender: e.webContents, senderFrame: null }, /frame is gone/],
    ];
    for (const [what, event, why] of cases) {
      const reply = (await e.invoke('call:settings.update', { theme: 'dark' }, event as IpcMainInvokeEvent)) as { ok: boolean; error: string; status: number };
      expect(reply.ok, what).toBe(false);
      expect(reply.status, what).toBe(403);
      expect(reply.error, what).toMatch(why);
    }
    e.destroy();
    const closed = (await e.invoke('call:settings.get', {})) as { error: string };
    expect(closed.error).toMatch(/window is closed/);
    // None of the refused calls reached the engine.
    expect(engine.settings.get('app', null)).toBeNull();
  });
});

describe('appUrlMatcher', () => {
  it('accepts the built page with any route, nothing else from file://', () => {
    const ok = appUrlMatcher(APP_URL);
    expect(ok(APP_URL)).toBe(true);
    expect(ok(`${APP_URL}#/runs`)).toBe(true);
    expect(ok('file:///opt/lora-studio/out/renderer/other.html')).toBe(false);
    expect(ok('http://127.0.0.1:5173/')).toBe(false);
    expect(ok('not a url')).toBe(false);
  });

  it('accepts the dev server origin only', () => {
    const ok = appUrlMatcher('http://localhost:5173/');
    expect(ok('http://localhost:5173/#/models')).toBe(true);
    expect(ok('http://localhost:5174/')).toBe(false);
    expect(ok('file:///opt/lora-studio/out/renderer/index.html')).toBe(false);
  });
});

describe('desktopDataDir', () => {
  const userData = '/home/u/.config/LoRA Studio';
  it('prefers --data-dir, then LORA_STUDIO_DATA_DIR, then Electron userData', () => {
    expect(desktopDataDir(['.', '--data-dir', '/tmp/a'], { LORA_STUDIO_DATA_DIR: '/tmp/b' }, userData)).toBe('/tmp/a');
    expect(desktopDataDir(['.', '--data-dir=/tmp/c'], {}, userData)).toBe('/tmp/c');
    expect(desktopDataDir(['.'], { LORA_STUDIO_DATA_DIR: '/tmp/b' }, userData)).toBe('/tmp/b');
    expect(desktopDataDir(['.', '--inspect=0'], {}, userData)).toBe(userData);
  });
  it('refuses a --data-dir without a folder', () => {
    expect(() => desktopDataDir(['--data-dir'], {}, userData)).toThrow('--data-dir needs a folder path');
    expect(() => desktopDataDir(['--data-dir', '--json'], {}, userData)).toThrow('--data-dir needs a folder path');
    expect(() => desktopDataDir(['--data-dir='], {}, userData)).toThrow('--data-dir needs a folder path');
  });
});
