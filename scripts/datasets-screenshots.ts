/**
 * Screenshots of the Datasets page for the closing note: the example datasets imported
 * into a fresh data dir, a row as the model sees it (trained vs masked tokens), the first look at a
 * file with its column mapping, an import report, and a running import with its progress bar.
 *
 * Needs the built UI (`npm run build:web`) and Debian's Chromium.
 * Run: npx tsx scripts/datasets-screenshots.ts [--ui out/renderer] [--out test-results/datasets]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { openEngine } from '../src/main/bootstrap';
import { datasetsService } from '../src/main/services/datasets';
import { ModelsService } from '../src/main/services/models';
import { startWebServer } from '../src/main/web/server';
import { writeChatJsonl } from '../bench/datasets';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return path.resolve(i >= 0 ? process.argv[i + 1] : fallback);
};
const ui = arg('--ui', path.join(root, 'out/renderer'));
const out = arg('--out', path.join(root, 'test-results/datasets'));
const examples = path.join(root, 'examples/datasets');
const fixtures = path.resolve(root, '../shared/fixtures');

fs.mkdirSync(out, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-datasets-shots-'));
const engine = openEngine({ dataDir: path.join(work, 'data'), shell: 'web' });
const server = await startWebServer(engine, { host: '127.0.0.1', port: 0, staticDir: ui, log: () => {} });
const browser = await chromium.launch({ executablePath: process.env.LORA_STUDIO_CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const models = new ModelsService(engine);
  for (const m of ['tiny-random-llama', 'tiny-gpt2']) models.add(path.join(fixtures, 'models', m), m);
  const datasets = datasetsService(engine);
  const base = { onError: 'skip', evalFraction: 0.25, seed: 0, onDuplicate: 'existing' } as const;
  const sharegpt = await datasets.import({ ...base, path: path.join(examples, 'sharegpt.json') });
  const malformed = await datasets.import({ ...base, path: path.join(examples, 'malformed.jsonl') });

  const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  const at = (query: string) => server.url.replace(/\/\?token=.*/, `/#/datasets${query}`);
  await page.goto(server.url);

  await page.goto(at(`?dataset=${sharegpt.id}`));
  await page.click('[data-testid="tab-model"]');
  await page.waitForSelector('[data-testid="token-view"]');
  await page.waitForSelector('[data-testid="length-histogram"]');
  await page.screenshot({ path: path.join(out, 'as-the-model-sees-it.png'), fullPage: true });

  await page.goto(at(`?dataset=${malformed.id}`));
  await page.click('summary');
  await page.waitForSelector('[data-testid="skipped-lines"]');
  await page.screenshot({ path: path.join(out, 'validation-report.png'), fullPage: true });

  await page.fill('[data-testid="dataset-path"]', path.join(examples, 'qa.tsv'));
  await page.click('[data-testid="dataset-inspect"]');
  await page.waitForSelector('[data-testid="column-mapping"]');
  await page.screenshot({ path: path.join(out, 'first-look-and-mapping.png'), fullPage: true });

  const big = path.join(work, 'big.jsonl');
  writeChatJsonl(big, 150);
  await page.fill('[data-testid="dataset-path"]', big);
  await page.click('[data-testid="dataset-inspect"]');
  await page.click('[data-testid="dataset-import-start"]');
  await page.locator('[data-testid="import-numbers"]', { hasText: 'rows/s' }).waitFor({ timeout: 120_000 });
  await page.locator('[data-testid="import-progress"]').screenshot({ path: path.join(out, 'import-progress.png') });
  await page.click('[data-testid="import-cancel"]');
  await page.waitForSelector('text=Import cancelled; nothing was kept', { timeout: 120_000 });
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.close();
  await engine.close();
  fs.rmSync(work, { recursive: true, force: true });
}
