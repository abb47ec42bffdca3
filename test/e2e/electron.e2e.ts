/**
 * The desktop shell itself: Electron's window driven by Playwright's `_electron`. Runs where the
 * optional electron package and its binary are installed (and a display exists); elsewhere every
 * test reports itself skipped, with the reason in its name. scripts/e2e.mjs builds out/ first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { probeElectron } from '../../src/main/electron-probe';
import { callNames } from '../../src/shared/contract';
import { PAGES, repoRoot, screenshot, tempDir, watchPage } from './helpers';
import type { PageGlobals } from './page-types';

function whyNot(): string | null {
  const probe = probeElectron();
  if (!probe.available) return probe.reason ?? 'Electron is not available';
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return 'there is no display (DISPLAY / WAYLAND_DISPLAY unset; run under xvfb-run)';
  if (!fs.existsSync(path.join(repoRoot, 'out', 'main', 'index.js'))) return 'the desktop build is missing (out/main/index.js): run through `npm run test:e2e`, which builds it';
  return null;
}

const skipReason = whyNot();
if (skipReason) console.log(`[e2e] Electron suite skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(`Electron window${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let app: ElectronApplication;
  let win: Page;
  let dataDir: string;
  let watch: ReturnType<typeof watchPage>;

  beforeAll(async () => {
    dataDir = tempDir('e2e-electron');
    const probe = probeElectron();
    app = await _electron.launch({
      executablePath: probe.binary,
      // Chromium refuses to run as root with its process sandbox (CI runs as root).
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), repoRoot, '--data-dir', dataDir],
      cwd: repoRoot,
    });
    win = await app.firstWindow();
    await win.setViewportSize({ width: 1360, height: 860 });
    watch = watchPage(win);
  });

  afterAll(async () => {
    await app?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the shell with the engine status of its data dir', async () => {
    await win.getByRole('navigation', { name: 'Pages' }).waitFor();
    await win.getByTestId('engine-summary').getByText('Engine ready').waitFor();
    expect(await win.getByTestId('engine-summary-shell').textContent()).toBe('Desktop app');
    await win.getByTestId('nav-settings').click();
    expect(await win.getByTestId('status-data-dir').textContent()).toBe(dataDir);
    expect(await win.locator('[data-testid="status-backends"] [data-backend]').count()).toBeGreaterThan(0);
    watch.assertClean();
  });

  it('runs the page isolated: no Node, only the contract’s calls, a strict CSP', async () => {
    const page = await win.evaluate(() => {
      const g = globalThis as unknown as PageGlobals & { require?: unknown; process?: unknown };
      return { require: typeof g.require, process: typeof g.process, keys: Object.keys(g.loraStudio ?? {}).sort(), calls: Object.keys(g.loraStudio?.calls ?? {}).sort() };
    });
    expect(page).toEqual({ require: 'undefined', process: 'undefined', keys: ['calls', 'on'], calls: [...callNames].sort() });
    // The sandboxed preload has no Node either: it could not require anything but electron.
    const csp = await win.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
    expect(csp).toContain("script-src 'self'");
  });

  it('blocks navigation away from the app and new windows', async () => {
    const before = win.url();
    const opened = await win.evaluate(() => {
      const g = globalThis as unknown as { open(url: string): unknown; location: { href: string } };
      const w = g.open('https://example.com/');
      g.location.href = 'https://example.com/';
      return w === null;
    });
    expect(opened).toBe(true);
    await win.waitForTimeout(500);
    expect(win.url().split('#')[0]).toBe(before.split('#')[0]);
    expect(app.windows()).toHaveLength(1);
  });

  it('shows every page (screenshots test-results/electron-<page>.png)', async () => {
    for (const p of PAGES) {
      await win.getByTestId(`nav-${p.name}`).click();
      await win.getByRole('heading', { level: 1, name: p.title }).waitFor();
      await screenshot(win, `electron-${p.name}`);
    }
    watch.assertClean();
  });
});
