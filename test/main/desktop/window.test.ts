import { beforeEach, describe, expect, it, vi } from 'vitest';

// Electron is not installed here (and never in the engine's tests): a stand-in records what the
// desktop shell asks of it.
const electron = vi.hoisted(() => ({
  windows: [] as { options: Record<string, unknown> }[],
  opened: [] as string[],
}));

vi.mock('electron', () => ({
  BrowserWindow: class {
    webContents = {};
    constructor(readonly options: Record<string, unknown>) {
      electron.windows.push(this);
    }
    once() {}
  },
  nativeTheme: { shouldUseDarkColors: false },
  shell: { openExternal: async (url: string) => void electron.opened.push(url) },
}));

const { createMainWindow, hardenWebContents, applySessionPolicy } = await import('../../../src/main/desktop/window');
const { RENDERER_CSP, DEV_RENDERER_CSP } = await import('../../../src/renderer/csp');

type Handler = (...args: unknown[]) => void;

function fakeContents() {
  const on = new Map<string, Handler>();
  let openHandler: ((d: { url: string }) => { action: string }) | undefined;
  const contents = {
    on: (event: string, fn: Handler) => on.set(event, fn),
    setWindowOpenHandler: (fn: typeof openHandler) => (openHandler = fn),
  };
  const fire = (event: string, url = '') => {
    let prevented = false;
    on.get(event)!({ preventDefault: () => (prevented = true) }, url);
    return prevented;
  };
  return { contents, fire, open: (url: string) => openHandler!({ url }) };
}

describe('desktop window', () => {
  beforeEach(() => {
    electron.windows.length = 0;
    electron.opened.length = 0;
  });

  it('isolates the page: context isolation, sandbox, no Node, web security on, no webview', () => {
    createMainWindow({ preload: '/app/out/preload/index.cjs', appUrl: 'file:///app/out/renderer/index.html', dev: false });
    const prefs = electron.windows[0].options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      devTools: false,
    });
  });

  it('blocks every navigation and new window; web links open in the user’s browser', () => {
    const { contents, fire, open } = fakeContents();
    hardenWebContents(contents as never);
    expect(fire('will-navigate', 'https://huggingface.co/docs')).toBe(true);
    expect(fire('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(fire('will-redirect', 'https://evil.example/')).toBe(true);
    expect(fire('will-attach-webview')).toBe(true);
    expect(open('https://github.com/huggingface/peft')).toEqual({ action: 'deny' });
    expect(open('javascript:alert(1)')).toEqual({ action: 'deny' });
    expect(open('file:///tmp/x.html')).toEqual({ action: 'deny' });
    expect(electron.opened).toEqual(['https://huggingface.co/docs', 'https://github.com/huggingface/peft']);
  });

  it('adds the CSP header to responses and denies every permission', () => {
    let onHeaders: Handler | undefined;
    let requestHandler: Handler | undefined;
    let checkHandler: ((...a: unknown[]) => boolean) | undefined;
    const session = {
      webRequest: { onHeadersReceived: (fn: Handler) => (onHeaders = fn) },
      setPermissionRequestHandler: (fn: Handler) => (requestHandler = fn),
      setPermissionCheckHandler: (fn: typeof checkHandler) => (checkHandler = fn),
    };
    applySessionPolicy(session as never, false);
    let headers: unknown;
    onHeaders!({ url: 'http://localhost:5173/', responseHeaders: { 'Content-Type': ['text/html'] } }, (r: { responseHeaders: unknown }) => (headers = r.responseHeaders));
    expect(headers).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': [RENDERER_CSP] });
    let granted: boolean | undefined;
    requestHandler!({}, 'media', (g: boolean) => (granted = g));
    expect(granted).toBe(false);
    expect(checkHandler!({}, 'clipboard-read')).toBe(false);

    applySessionPolicy(session as never, true);
    onHeaders!({ url: 'http://localhost:5173/', responseHeaders: {} }, (r: { responseHeaders: unknown }) => (headers = r.responseHeaders));
    expect(headers).toEqual({ 'Content-Security-Policy': [DEV_RENDERER_CSP] });
  });
});

describe('renderer CSP', () => {
  it('admits only the app’s own files: no inline script, eval, inline style or remote origin', () => {
    const directives = Object.fromEntries(RENDERER_CSP.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(RENDERER_CSP).not.toMatch(/unsafe-(inline|eval)|https?:|\*/);
  });
});
