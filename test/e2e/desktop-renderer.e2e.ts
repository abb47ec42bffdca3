/**
 * The desktop window's renderer, as far as it can be driven without Electron: the built page loaded
 * from file:// in Chromium (as the window loads it), with its Content-Security-Policy <meta>, talking
 * to a real engine through the real desktop pieces — the preload's bridge (src/preload/bridge.ts) and
 * the main process's IPC handlers with their sender check (src/main/desktop/ipc.ts). Only Electron's
 * own IPC hop is replaced, by Playwright bindings. The Electron suite (electron.e2e.ts) covers the
 * real window where the binary exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { BrowserWindow, IpcMain, IpcMainInvokeEvent } from 'electron';
import { openEngine } from '../../src/main/bootstrap';
import type { Engine } from '../../src/main/engine';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import { appUrlMatcher, registerIpcHandlers } from '../../src/main/desktop/ipc';
import { buildDesktopBridge, type BridgeIpc } from '../../src/preload/bridge';
import { RENDERER_CSP } from '../../src/renderer/csp';
import { callNames, type Settings } from '../../src/shared/contract';
import { launchChromium, PAGES, rendererDir, requireBuiltRenderer, screenshot, tempDir, watchPage } from './helpers';
import type { PageGlobals } from './page-types';

type IpcHandler = (event: IpcMainInvokeEvent, args: unknown) => Promise<unknown>;
type Listener = (event: unknown, message: unknown) => void;

describe('desktop renderer from file:// over the desktop IPC handlers', () => {
  let dataDir: string;
  let engine: Engine;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  const appUrl = pathToFileURL(path.join(rendererDir, 'index.html')).href;

  beforeAll(async () => {
    requireBuiltRenderer();
    dataDir = tempDir('e2e-desktop');
    engine = openEngine({ dataDir, shell: 'desktop' });
    handlers = createHandlers(engine);
    // Chromium refuses ES modules from file:// unless told otherwise; Electron allows them for its app pages.
    browser = await launchChromium(['--allow-file-access-from-files']);
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, colorScheme: 'dark' });
    page = await context.newPage();
    watch = watchPage(page);

    // Main process side: the real handler registration, with the window's frame being this page.
    const channels = new Map<string, IpcHandler>();
    const ipcMain = { handle: (c: string, fn: IpcHandler) => channels.set(c, fn), removeHandler: (c: string) => channels.delete(c) } as unknown as IpcMain;
    const mainFrame = { processId: 1, routingId: 1, get url() { return page.url(); } };
    const rendererListeners = new Map<string, Set<Listener>>();
    const webContents = { id: 1, mainFrame, send: (channel: string, message: unknown) => rendererListeners.get(channel)?.forEach((l) => l({}, message)) };
    const window = { webContents, isDestroyed: () => false } as unknown as BrowserWindow;
    registerIpcHandlers(ipcMain, handlers, window, appUrlMatcher(appUrl));
    engine.events.onAny((event, payload) => webContents.send('event', { event, payload }));

    // Preload side: the real bridge over an ipcRenderer whose invoke reaches the handlers above.
    const rendererIpc: BridgeIpc = {
      invoke: (channel, args) => channels.get(channel)!({ sender: webContents, senderFrame: mainFrame } as unknown as IpcMainInvokeEvent, args),
      on: (channel, l) => (rendererListeners.get(channel) ?? rendererListeners.set(channel, new Set()).get(channel)!).add(l),
      removeListener: (channel, l) => rendererListeners.get(channel)?.delete(l),
    };
    const bridge = buildDesktopBridge(rendererIpc);
    await page.exposeFunction('__bridgeCall', (name: string, args: unknown) => (bridge.calls as Record<string, (a: unknown) => Promise<unknown>>)[name](args));
    bridge.on('settings.changed', (payload) => {
      void page.evaluate(([e, p]) => (globalThis as unknown as { __bridgeEmit(e: string, p: unknown): void }).__bridgeEmit(e as string, p), ['settings.changed', payload] as const);
    });
    // What contextBridge.exposeInMainWorld('loraStudio', bridge) gives the page: one function per call.
    await page.addInitScript((names: string[]) => {
      const g = globalThis as unknown as Record<string, unknown>;
      const call = g.__bridgeCall as (name: string, args: unknown) => Promise<unknown>;
      const listeners = new Map<string, Set<(p: unknown) => void>>();
      g.__bridgeEmit = (event: string, payload: unknown) => listeners.get(event)?.forEach((l) => l(payload));
      g.loraStudio = Object.freeze({
        calls: Object.freeze(Object.fromEntries(names.map((n) => [n, (args: unknown) => call(n, args)]))),
        on(event: string, l: (p: unknown) => void) {
          if (!listeners.has(event)) listeners.set(event, new Set());
          listeners.get(event)!.add(l);
          return () => listeners.get(event)?.delete(l);
        },
      });
    }, callNames);
  });

  afterAll(async () => {
    await browser?.close();
    await engine?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads from file:// with relative assets and shows the desktop engine status', async () => {
    await page.goto(appUrl);
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    await page.getByTestId('engine-summary').getByText('Engine ready').waitFor();
    expect(await page.getByTestId('engine-summary-shell').textContent()).toBe('Desktop app');
    // IPC has no connection to lose: no connection indicator.
    expect(await page.getByTestId('connection-state').count()).toBe(0);
    await page.getByTestId('nav-settings').click();
    expect(await page.getByTestId('status-data-dir').textContent()).toBe(dataDir);
    expect(await page.getByTestId('status-shell').textContent()).toBe('Desktop app');
    await screenshot(page, 'desktop-renderer-settings');
    watch.assertClean();
  });

  it('carries the strict CSP in the page itself, and it is enforced under file://', async () => {
    expect(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).toBe(RENDERER_CSP);
    const blocked = await page.evaluate(
      () =>
        new Promise<{ ran: boolean; violated: string | null }>((resolve) => {
          const g = globalThis as unknown as {
            __inlineRan?: boolean;
            document: { createElement(t: string): { textContent: string }; head: { appendChild(n: unknown): void }; addEventListener(t: string, f: (e: { violatedDirective: string }) => void): void };
          };
          let violated: string | null = null;
          g.document.addEventListener('securitypolicyviolation', (e) => (violated = e.violatedDirective));
          const s = g.document.createElement('script');
          s.textContent = 'globalThis.__inlineRan = true';
          g.document.head.appendChild(s);
          setTimeout(() => resolve({ ran: g.__inlineRan === true, violated }), 100);
        }),
    );
    expect(blocked).toEqual({ ran: false, violated: 'script-src-elem' });
    watch.reset(); // the refused inline script is logged as a console error, as it should be
  });

  it('goes through every page and keeps the theme choice in the engine', async () => {
    for (const p of PAGES) {
      await page.getByTestId(`nav-${p.name}`).click();
      await page.getByRole('heading', { level: 1, name: p.title }).waitFor();
      expect(new URL(page.url()).hash).toBe(`#/${p.name}`);
    }
    await page.getByTestId('theme-light').check();
    await page.locator('html[data-theme="light"]').waitFor({ state: 'attached' });
    await expect.poll(async () => ((await dispatchCall(handlers, 'settings.get', {}, { via: 'cli' })) as Settings).theme).toBe('light');
    // A change made elsewhere arrives as an event through the bridge.
    await dispatchCall(handlers, 'settings.update', { theme: 'dark' }, { via: 'cli' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    watch.assertClean();
  });

  it('offers the native file and folder pickers on the Datasets page (the web app’s browser is not shown)', async () => {
    await page.getByTestId('nav-datasets').click();
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
    await page.getByTestId('dataset-pick-file').waitFor();
    await page.getByTestId('dataset-pick-folder').waitFor();
    expect(await page.getByTestId('dataset-browse').count()).toBe(0);
    await screenshot(page, 'desktop-renderer-datasets');
    watch.assertClean();
  });

  it('exposes only the contract’s calls to the page', async () => {
    const exposed = await page.evaluate(() => {
      const api = (globalThis as unknown as PageGlobals).loraStudio!;
      return { calls: Object.keys(api.calls).sort(), keys: Object.keys(api).sort() };
    });
    expect(exposed.calls).toEqual([...callNames].sort());
    expect(exposed.keys).toEqual(['calls', 'on']);
  });
});
