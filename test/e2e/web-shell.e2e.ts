/**
 * The web shell in Debian's Chromium: the printed URL opens the app, the shell shows the engine's
 * real status, every page renders (screenshots in test-results/shell-<page>.png), the theme is
 * saved in the engine and followed live, the keyboard reaches the navigation, and the page
 * reconnects by itself when the server restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import type { Settings, SystemStatus } from '../../src/shared/contract';
import type { PageGlobals } from './page-types';
import { launchChromium, PAGES, screenshot, startWebShell, watchPage, type WebShell } from './helpers';

describe('web shell in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;

  const engineCall = (name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' });
  const theme = () => page.locator('html').getAttribute('data-theme');
  const waitForTheme = (value: 'light' | 'dark') => page.locator(`html[data-theme="${value}"]`).waitFor({ state: 'attached', timeout: 10_000 });
  const bodyBackground = () =>
    page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.getComputedStyle(g.document.body).backgroundColor;
    });

  beforeAll(async () => {
    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1360, height: 860 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
  });

  it('opens from the printed URL: the token becomes a session and leaves the address bar', async () => {
    await page.goto(shell.server.url);
    const url = new URL(page.url());
    expect(url.searchParams.has('token')).toBe(false);
    expect(url.hash).toBe('#/models');
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    await page.getByTestId('engine-summary').getByText('Engine ready').waitFor();
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    watch.assertClean();
  });

  it('shows every page (screenshots test-results/shell-<page>.png)', async () => {
    for (const p of PAGES) {
      await page.getByTestId(`nav-${p.name}`).click();
      await page.getByRole('heading', { level: 1, name: p.title }).waitFor();
      expect(new URL(page.url()).hash).toBe(`#/${p.name}`);
      expect(await page.title()).toBe(`${p.title} · LoRA Studio`);
      const active = page.locator('.nav-link.router-link-active');
      expect(await active.getAttribute('data-testid')).toBe(`nav-${p.name}`);
      if (p.name === 'settings') await page.locator('[data-testid="status-backends"] [data-backend]').first().waitFor();
      // Let the page's first data arrive, so the screenshot shows it rather than a loading state.
      await page.waitForLoadState('networkidle');
      await screenshot(page, `shell-${p.name}`);
    }
    watch.assertClean();
  });

  it('the status panel shows what the engine reports: data dir, backends, database, shell', async () => {
    const truth = (await engineCall('system.status')) as SystemStatus;
    await page.getByTestId('nav-settings').click();
    const dataDir = page.getByTestId('status-data-dir');
    await dataDir.waitFor();
    expect(await dataDir.textContent()).toBe(shell.dataDir);
    expect(truth.dataDir).toBe(shell.dataDir);
    expect(await page.getByTestId('status-shell').textContent()).toContain('Web app');

    expect(truth.backends.length).toBeGreaterThan(0);
    // Listed twice: as chips in the status panel and as choices (with the reasons) in the backend chooser.
    for (const list of ['status-backends', 'backend-chooser']) {
      const rows = page.locator(`[data-testid="${list}"] [data-backend]`);
      expect(await rows.count()).toBe(truth.backends.length);
      for (const [i, b] of truth.backends.entries()) {
        const row = rows.nth(i);
        expect(await row.getAttribute('data-backend')).toBe(b.name);
        expect(await row.getAttribute('data-available')).toBe(String(b.available));
        // An unavailable backend shows its reason, word for word.
        if (!b.available) expect(await row.textContent()).toContain(b.reason);
      }
    }
    const inUse = truth.backends.find((b) => b.name === truth.backend.name);
    expect(await page.getByTestId('status-backend').textContent()).toContain(inUse?.label ?? truth.backend.name);
    for (const s of truth.backend.skipped) expect(await page.getByTestId('status-backend').textContent()).toContain(s.reason);
    expect(await page.getByTestId('status-db').textContent()).toContain(`schema version ${truth.db.version} of ${truth.db.latest}`);
    expect(await page.getByTestId('status-memory').textContent()).toMatch(/[\d.]+ [KMGT]iB free of [\d.]+ [KMGT]iB · \d+ CPU cores/);
    watch.assertClean();
  });

  it('the backend choice lists the unavailable ones with their reasons and saves the choice', async () => {
    const truth = (await engineCall('system.status')) as SystemStatus;
    for (const b of truth.backends) {
      const radio = page.getByTestId(`backend-${b.name}`);
      expect(await radio.isDisabled()).toBe(!b.available);
    }
    const cpu = truth.backends.find((b) => b.name === 'cpu' && b.available);
    if (cpu) {
      await page.getByTestId('backend-cpu').check();
      await expect.poll(async () => ((await engineCall('settings.get')) as Settings).backend).toBe('cpu');
      await page.getByTestId('status-backend').getByText('chosen in Settings').waitFor();
      await page.getByTestId('backend-auto').check();
      await expect.poll(async () => ((await engineCall('settings.get')) as Settings).backend).toBe(null);
      await page.getByTestId('status-backend').getByText(/fastest available|nothing available/).waitFor();
    }
    watch.assertClean();
  });

  it('switches to dark and back, saves the theme in the engine and keeps it across reloads', async () => {
    await page.getByTestId('nav-settings').click();
    expect(await theme()).toBe('light');
    const lightBg = await bodyBackground();

    await page.getByTestId('theme-dark').check();
    await waitForTheme('dark');
    await expect.poll(async () => ((await engineCall('settings.get')) as Settings).theme).toBe('dark');
    const darkBg = await bodyBackground();
    expect(darkBg).not.toBe(lightBg);
    await screenshot(page, 'shell-settings-dark');

    await page.reload();
    await waitForTheme('dark');
    await page.getByTestId('nav-runs').click();
    await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();
    await screenshot(page, 'shell-runs-dark');

    await page.getByTestId('nav-settings').click();
    await page.getByTestId('theme-light').check();
    await waitForTheme('light');
    await expect.poll(async () => ((await engineCall('settings.get')) as Settings).theme).toBe('light');
    watch.assertClean();
  });

  it('follows a setting changed elsewhere, live over the event socket', async () => {
    await engineCall('settings.update', { theme: 'dark' });
    await waitForTheme('dark');
    await engineCall('settings.update', { theme: 'system' });
    // The browser context emulates a light OS.
    await waitForTheme('light');
    expect(await page.locator('html').getAttribute('data-theme-choice')).toBe('system');
    watch.assertClean();
  });

  it('is usable from the keyboard: Tab reaches the navigation, Enter follows it, focus is visible', async () => {
    await page.getByTestId('nav-models').click();
    await page.locator('body').click({ position: { x: 700, y: 5 } });
    let focused: string | null = null;
    for (let i = 0; i < 12 && focused !== 'nav-datasets'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('data-testid') ?? null);
    }
    expect(focused).toBe('nav-datasets');
    const outline = await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.document.activeElement ? g.getComputedStyle(g.document.activeElement).outlineStyle : 'none';
    });
    expect(outline).not.toBe('none');
    await screenshot(page, 'shell-keyboard-focus');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
    watch.assertClean();
  });

  it('answers the desktop-only folder picker with a clear error', async () => {
    const reply = await page.evaluate(async () => {
      const res = await fetch('/api/call/dialog.pickFolder', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      return { status: res.status, body: (await res.json()) as { error?: string } };
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatch(/only in the desktop app; type the folder path/);
    watch.reset(); // the 400 above was asked for
  });

  it('shows the lost connection and reconnects by itself when the server comes back', async () => {
    await page.getByTestId('nav-settings').click();
    await shell.server.close();
    await page.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor({ timeout: 15_000 });
    await page.getByTestId('connection-toast').waitFor();
    await page.waitForTimeout(400); // the toast's fade-in
    await screenshot(page, 'shell-reconnecting', false);

    await shell.restart();
    await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 20_000 });
    await page.getByTestId('connection-toast').waitFor({ state: 'detached' });
    // Chromium logs each refused WebSocket attempt as a console error: expected while the server was down.
    watch.reset();
    // Events flow again over the new socket.
    await engineCall('settings.update', { theme: 'dark' });
    await waitForTheme('dark');
    await engineCall('settings.update', { theme: 'system' });
    await waitForTheme('light');
    watch.assertClean();
  });
});
