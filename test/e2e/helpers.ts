/**
 * What the end-to-end suites share: a web shell on a free port over a fresh temp data dir, Debian's
 * Chromium through playwright-core, and a page watcher that fails the test on any console error,
 * uncaught exception or CSP violation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { openEngine } from '../../src/main/bootstrap';
import type { Engine } from '../../src/main/engine';
import { startWebServer, type WebServer } from '../../src/main/web/server';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const resultsDir = path.join(repoRoot, 'test-results');
export const rendererDir = path.join(repoRoot, 'out', 'renderer');

export const CHROMIUM = process.env.LORA_STUDIO_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function requireBuiltRenderer(): void {
  if (!fs.existsSync(path.join(rendererDir, 'index.html'))) {
    throw new Error(`the UI is not built (${rendererDir}/index.html missing): run the suites with \`npm run test:e2e\`, which builds it`);
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lora-studio-${prefix}-`));
}

export interface WebShell {
  engine: Engine;
  server: WebServer;
  dataDir: string;
  /** Start the server again on the same port and token (after `server.close()`), as a restart would. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebShell(): Promise<WebShell> {
  requireBuiltRenderer();
  const dataDir = tempDir('e2e-data');
  const engine = openEngine({ dataDir, shell: 'web' });
  const shell: WebShell = {
    engine,
    dataDir,
    server: await startWebServer(engine, { host: '127.0.0.1', port: 0, staticDir: rendererDir, log: () => {} }),
    async restart() {
      const { port, token } = shell.server;
      shell.server = await startWebServer(engine, { host: '127.0.0.1', port, token, staticDir: rendererDir, log: () => {} });
    },
    async close() {
      await shell.server.close();
      await engine.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return shell;
}

/** A call through the web shell's HTTP API, as a script would make it (Bearer token); throws the server's error. */
export async function apiCall<T>(shell: WebShell, name: string, args: unknown = {}): Promise<T> {
  const res = await fetch(`http://${shell.server.host}:${shell.server.port}/api/call/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${shell.server.token}` },
    body: JSON.stringify(args),
  });
  const body = (await res.json()) as { result?: T; error?: string };
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status}: ${body.error}`);
  return body.result as T;
}

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set LORA_STUDIO_CHROMIUM`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** Collects everything that would mean the page is broken; `assertClean()` throws with the list. */
export function watchPage(page: Page) {
  const problems: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  return {
    problems,
    /** Forget what was expected (e.g. the failed reconnect attempts while the server is down). */
    reset() {
      problems.length = 0;
    },
    /** Forget only the problems matching one of `patterns` (an error answer the test asked for). */
    allow(...patterns: RegExp[]) {
      const kept = problems.filter((p) => !patterns.some((re) => re.test(p)));
      problems.splice(0, problems.length, ...kept);
    },
    assertClean() {
      if (problems.length) throw new Error(`the page reported problems:\n${problems.join('\n')}`);
    },
  };
}

/** The whole page by default; `fullPage: false` keeps floating elements (toasts) where the user sees them. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

export const PAGES = [
  { name: 'models', title: 'Models' },
  { name: 'datasets', title: 'Datasets' },
  { name: 'runs', title: 'Runs' },
  { name: 'adapters', title: 'Adapters' },
  { name: 'playground', title: 'Playground' },
  { name: 'settings', title: 'Settings' },
] as const;
