/**
 * The one place the desktop shell wires contract calls to IPC: a handler on `call:<name>` for every
 * call name, accepting only our window's main frame showing our app page, dispatched through the same
 * validation as the web shell, and answered with an envelope (IpcReply) the preload unwraps.
 */
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent } from 'electron';
import { callNames } from '../../shared/contract';
import { ipcCallChannel, type IpcReply } from '../../shared/desktop-bridge';
import { dispatchCall, type Handlers } from '../handlers';
import { errorMessage, UserError } from '../errors';

export type IsAppUrl = (url: string) => boolean;

/** Why a call is refused, or null when it comes from our window's main frame on our page. */
export function senderRefusal(event: IpcMainInvokeEvent, window: BrowserWindow, isAppUrl: IsAppUrl): string | null {
  if (window.isDestroyed()) return 'the LoRA Studio window is closed';
  const contents = window.webContents;
  if (event.sender !== contents && event.sender.id !== contents.id) return 'the call comes from a window that is not LoRA Studio';
  const frame = event.senderFrame;
  if (!frame) return 'the calling frame is gone';
  const main = contents.mainFrame;
  if (frame.processId !== main.processId || frame.routingId !== main.routingId) return 'the call comes from a sub-frame, not the app page';
  if (!isAppUrl(frame.url)) return `the call comes from an unexpected page (${frame.url})`;
  return null;
}

export function registerIpcHandlers(ipcMain: IpcMain, handlers: Handlers, window: BrowserWindow, isAppUrl: IsAppUrl): () => void {
  for (const name of callNames) {
    ipcMain.handle(ipcCallChannel(name), async (event, args: unknown): Promise<IpcReply> => {
      const refusal = senderRefusal(event, window, isAppUrl);
      if (refusal) {
        console.warn(`desktop: refused ${name}: ${refusal}`);
        return { ok: false, error: `refused: ${refusal}`, status: 403 };
      }
      try {
        return { ok: true, result: (await dispatchCall(handlers, name, args, { via: 'ipc' })) ?? null };
      } catch (err) {
        if (err instanceof UserError) return { ok: false, error: err.message, status: err.status };
        console.error(`desktop: call ${name} failed:`, err);
        return { ok: false, error: errorMessage(err), status: 500 };
      }
    });
  }
  return () => {
    for (const name of callNames) ipcMain.removeHandler(ipcCallChannel(name));
  };
}

/**
 * The page our window may show: the built index.html (any hash route) from file://, or in
 * development the electron-vite dev server's origin.
 */
export function appUrlMatcher(appUrl: string): IsAppUrl {
  const app = new URL(appUrl);
  return (raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return false;
    }
    if (app.protocol === 'file:') return url.protocol === 'file:' && url.host === app.host && url.pathname === app.pathname;
    return url.origin === app.origin;
  };
}
