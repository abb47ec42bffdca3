/**
 * The app window, locked down: context isolation, a sandboxed renderer without Node, web security
 * on, no navigation away from the app page, no new windows (http(s) links open in the user's
 * browser instead), no permissions, no <webview>.
 */
import { BrowserWindow, nativeTheme, shell, type Session, type WebContents } from 'electron';
import { RENDERER_CSP, DEV_RENDERER_CSP } from '../../renderer/csp';

export interface WindowOptions {
  preload: string;
  /** What to load: the built index.html (file://) or the dev server URL. */
  appUrl: string;
  dev: boolean;
}

function openExternally(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return;
  }
  if (protocol === 'https:' || protocol === 'http:') void shell.openExternal(url);
}

/** Rules for every web contents the app creates (index.ts applies them on 'web-contents-created'). */
export function hardenWebContents(contents: WebContents): void {
  // The router only changes the hash (no navigation event); anything else would leave the app.
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    openExternally(url);
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternally(url);
    return { action: 'deny' };
  });
}

/**
 * The CSP as a response header for http(s) loads (the dev server); the built page carries the same
 * policy in a <meta> tag, as file:// responses have no headers.
 */
export function applySessionPolicy(session: Session, dev: boolean): void {
  const policy = dev ? DEV_RENDERER_CSP : RENDERER_CSP;
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [policy] } });
  });
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

export function createMainWindow(opts: WindowOptions): BrowserWindow {
  const window = new BrowserWindow({
    width: 1320,
    height: 860,
    minWidth: 960,
    minHeight: 620,
    show: false,
    title: 'LoRA Studio',
    // Matches the page background, so the window does not flash white before the first paint.
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#0f1115' : '#f6f7f9',
    autoHideMenuBar: true,
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: opts.dev,
    },
  });
  window.once('ready-to-show', () => window.show());
  return window;
}
