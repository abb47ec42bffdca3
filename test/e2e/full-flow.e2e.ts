/**
 * The whole point-and-click flow in Chromium against the web shell, over one fresh data dir and
 * driven only by clicks and typing (the engine is read through the HTTP API to check what the page
 * shows): the bundled starter model in the Models library (tiny-random-llama added through the
 * path field where this checkout ships no resources/starter-model) → the demo dataset imported on
 * the Datasets page (resources/starter-task/train.jsonl, else examples/datasets/messages.jsonl) →
 * a run configured in the module × layer grid whose parameter count is the engine's
 * `runs.estimate` → its loss chart growing as it trains → a reload mid-run re-attaching with the
 * history → a second run from the first one's settings, compared with it on the Runs page →
 * the first run's adapter exported as a merged model and as GGUF + Modelfile, each verified →
 * base and adapter answers side by side in the Playground.
 * Screenshots: test-results/flow-1-models.png … flow-8-playground.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Request } from 'playwright-core';
import type { DatasetSummary, EventPayload, ExportRecord, ModelCard, ModelSummary, RunDetail, RunEstimate, RunMetrics, SystemStatus } from '../../src/shared/contract';
import { apiCall, launchChromium, repoRoot, screenshot, startWebShell, watchPage, type WebShell } from './helpers';

const starterModel = path.join(repoRoot, 'resources', 'starter-model');
const hasStarter = fs.existsSync(path.join(starterModel, 'config.json'));
const tinyLlama = path.resolve(repoRoot, '../shared/fixtures/models/tiny-random-llama');
const starterTask = path.join(repoRoot, 'resources', 'starter-task', 'train.jsonl');
const demoDataset = fs.existsSync(starterTask) ? starterTask : path.join(repoRoot, 'examples', 'datasets', 'messages.jsonl');
/** Backends a step takes ~0.5 s on with these tiny models (native, tensorflow: ~0.05 s). */
const SLOW_BACKENDS = ['wasm', 'cpu'];
const RANK = 4;

describe('the full flow in Chromium', () => {
  let shell: WebShell;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let model: ModelSummary;
  let card: ModelCard;
  let dataset: DatasetSummary;
  let firstRun: number;
  let secondRun: number;
  let adapterId: number;
  let shownParams: number;
  /** Long enough to reload the page mid-run: a few seconds of training on the engine's backend. */
  let steps: number;
  /** Bodies of the page's runs.estimate calls, in order. */
  const estimateBodies: { config: Record<string, unknown> }[] = [];
  const generated: EventPayload<'generate.done'>[] = [];

  const api = <T>(name: string, args: unknown = {}) => apiCall<T>(shell, name, args);
  const points = async (testid: string) => Number((await page.getByTestId(testid).getAttribute('data-points')) ?? '0');
  const runStatus = async (id: number) => (await api<RunDetail>('runs.get', { id })).status;
  const cells = () => page.locator('[data-testid="target-grid"] [role="gridcell"][aria-selected="true"]');
  const runIdFromUrl = () => Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);

  beforeAll(async () => {
    shell = await startWebShell();
    shell.engine.events.on('generate.done', (e) => generated.push(e));
    steps = SLOW_BACKENDS.includes((await api<SystemStatus>('system.status')).backend.name) ? 40 : 100;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
    page.on('request', (req: Request) => {
      if (req.url().endsWith('/api/call/runs.estimate')) estimateBodies.push(req.postDataJSON());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
  });

  it('1. the Models library shows the starter model (or takes a model folder typed in)', async () => {
    await page.goto(shell.server.url);
    await page.getByRole('heading', { level: 1, name: 'Models' }).waitFor();
    if (hasStarter) {
      // Registered on first start, ready to use.
      const starter = (await api<ModelSummary[]>('models.list')).find((m) => m.source === 'starter');
      expect(starter, 'resources/starter-model exists but was not registered on first start').toBeDefined();
      model = starter!;
      await page.getByTestId(`model-item-${model.id}`).getByText('Starter', { exact: true }).waitFor();
    } else {
      await page.getByTestId('models-empty').waitFor();
      await page.getByTestId('model-path').fill(tinyLlama);
      await page.getByTestId('model-add').click();
      await expect.poll(async () => (await api<ModelSummary[]>('models.list')).length, { timeout: 30_000 }).toBe(1);
      model = (await api<ModelSummary[]>('models.list'))[0];
      expect(model.path).toBe(tinyLlama);
      await page.getByTestId(`model-item-${model.id}`).waitFor();
    }
    card = await api<ModelCard>('models.show', { id: model.id });
    await page.getByTestId('model-card').getByRole('heading', { name: model.name, exact: true }).waitFor();
    await expect.poll(() => page.getByTestId('model-card').getByTestId('module-map').locator('[role="gridcell"]').count()).toBe(card.layers * card.modules.length);
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-1-models');
    watch.assertClean();
  });

  it('2. imports the demo dataset on the Datasets page', async () => {
    await page.getByTestId('nav-datasets').click();
    await page.getByTestId('datasets-empty').waitFor();
    await page.getByTestId('dataset-path').fill(demoDataset);
    await page.getByTestId('dataset-inspect').click();
    await expect.poll(() => page.getByTestId('dataset-shape').locator('option:checked').textContent(), { timeout: 20_000 }).toBe('Detected: messages');
    await page.getByTestId('dataset-import-start').click();
    await page.getByTestId('import-result').getByText(/Imported [\d,]+ rows \(messages, jsonl\)/).waitFor({ timeout: 60_000 });
    const list = await api<DatasetSummary[]>('datasets.list');
    expect(list).toHaveLength(1);
    dataset = list[0];
    expect(dataset.latest.sourcePath).toBe(demoDataset);
    await page.getByTestId('dataset-details').getByRole('heading', { name: dataset.name, exact: true }).waitFor();
    await page.getByTestId('length-histogram').waitFor({ timeout: 30_000 });
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-2-dataset');
    watch.assertClean();
  });

  it('3. configures a run in the module × layer grid; the parameter count shown is the engine’s', async () => {
    await page.getByTestId('nav-runs').click();
    await page.getByTestId('runs-empty').waitFor();
    await page.getByTestId('runs-new').click();
    await page.getByRole('heading', { level: 1, name: 'New run' }).waitFor();
    // The only model and dataset are picked.
    await expect.poll(() => page.getByTestId('nr-model').inputValue()).toBe(String(model.id));
    await expect.poll(() => page.getByTestId('nr-dataset').inputValue()).toBe(String(dataset.id));
    await page.getByTestId('target-grid').waitFor();

    // All linear layers, then the up_proj column cleared, then layer 0's k_proj clicked off.
    const up = card.modules.find((m) => m.name === 'up_proj')!;
    const k = card.modules.find((m) => m.name === 'k_proj')!;
    await page.getByTestId('grid-preset-all').click();
    await expect.poll(() => cells().count()).toBe(card.layers * card.modules.length);
    await page.getByTestId(`grid-col-${up.module}`).click();
    await page.getByTestId(`grid-cell-0-${k.module}`).click();
    const on = card.layers * (card.modules.length - 1) - 1;
    await expect.poll(() => cells().count()).toBe(on);
    await expect.poll(() => page.getByTestId('grid-summary').textContent()).toContain(`${on} of ${card.layers * card.modules.length}`);

    await page.getByTestId('nr-rank-box').fill(String(RANK));
    await page.getByTestId('nr-stop-steps').check();
    await page.getByTestId('nr-max-steps').fill(String(steps));
    await page.getByTestId('nr-batch').fill('2');
    await page.getByTestId('nr-seqlen').fill('64');
    await page.getByTestId('nr-lr').fill('0.01');
    await page.getByTestId('nr-name').fill('flow r4');

    const panel = page.getByTestId('estimate-panel');
    await expect
      .poll(async () => (await panel.getAttribute('data-pending')) === null && (await page.getByTestId('estimate-steps').textContent()) === String(steps), { timeout: 30_000 })
      .toBe(true);
    const shown = Number((await page.getByTestId('estimate-params').textContent())!.replace(/[^\d]/g, ''));
    // The engine's estimate, asked through the API for the exact config the page sent last.
    const sent = estimateBodies.at(-1)!;
    expect(sent.config).toMatchObject({ model: model.id, dataset: dataset.id, rank: RANK, maxSteps: steps, batchSize: 2, seqLen: 64, lr: 0.01 });
    const engine = await api<RunEstimate>('runs.estimate', sent);
    expect(shown).toBe(engine.trainableParams);
    shownParams = shown;
    // And it is Σ r·(in + out) over the cells ticked.
    const perLayer = card.modules.filter((m) => m !== up).reduce((n, m) => n + RANK * (m.inFeatures + m.outFeatures), 0);
    expect(shown).toBe(perLayer * card.layers - RANK * (k.inFeatures + k.outFeatures));
    expect(await page.getByTestId('estimate-modules').textContent()).toBe(String(on));
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-3-new-run');
    watch.assertClean();
  });

  it('4. starts it and watches the loss chart update as it trains', async () => {
    await page.getByTestId('nr-start').click();
    await page.waitForURL(/#\/runs\/\d+$/, { timeout: 30_000 });
    firstRun = runIdFromUrl();
    const chart = page.getByTestId('chart-loss');
    await chart.waitFor();
    // Live: step after step the chart gets more points.
    await expect.poll(() => points('chart-loss'), { timeout: 90_000 }).toBeGreaterThan(0);
    const first = await points('chart-loss');
    await expect.poll(() => points('chart-loss'), { timeout: 30_000 }).toBeGreaterThan(first);
    const second = await points('chart-loss');
    await expect.poll(() => points('chart-loss'), { timeout: 30_000 }).toBeGreaterThan(second);
    await expect.poll(async () => (await page.getByTestId('run-step').textContent()) ?? '').toMatch(new RegExp(`^Step \\d+ of ${steps}$`));
    // The config the run trains with is the one estimated.
    const detail = await api<RunDetail>('runs.get', { id: firstRun });
    expect(detail.config).toMatchObject({ rank: RANK, maxSteps: steps, targets: (estimateBodies.at(-1)!.config as { targets: string[] }).targets });
    expect(detail.trainableParams).toBe(shownParams);
    await screenshot(page, 'flow-4-training', false);
    watch.assertClean();
  });

  it('5. a reload mid-run re-attaches: the history at once, then live steps, then the whole run', async () => {
    expect(await runStatus(firstRun), 'the run ended before the reload: raise steps').toBe('running');
    await page.reload();
    await page.getByTestId('chart-loss').waitFor();
    await expect.poll(() => points('chart-loss'), { timeout: 20_000 }).toBeGreaterThan(0);
    const history = await points('chart-loss');
    await expect.poll(() => runStatus(firstRun), { timeout: 120_000, interval: 500 }).toBe('completed');
    await expect.poll(async () => (await page.getByTestId('run-status').getAttribute('data-status')) ?? '', { timeout: 20_000 }).toBe('completed');
    const stored = await api<RunMetrics>('runs.metrics', { id: firstRun });
    expect(stored.loss.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    await expect.poll(() => points('chart-loss'), { timeout: 20_000 }).toBe(steps);
    expect(history).toBeLessThan(steps);
    await page.getByRole('link', { name: 'Open the adapter' }).waitFor();
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-5-reattached');
    watch.assertClean();
  });

  it('6. runs again from the first run’s settings with another rank and compares the two', async () => {
    await page.getByTestId('run-again').click();
    await page.getByRole('heading', { level: 1, name: 'New run' }).waitFor();
    await expect.poll(() => cells().count()).toBe(card.layers * (card.modules.length - 1) - 1);
    await page.getByTestId('nr-rank-box').fill(String(2 * RANK));
    await page.getByTestId('nr-name').fill('flow r8');
    await expect
      .poll(async () => (await page.getByTestId('estimate-panel').getAttribute('data-pending')) === null && (await page.getByTestId('estimate-steps').textContent()) === String(steps), { timeout: 30_000 })
      .toBe(true);
    const first = await api<RunDetail>('runs.get', { id: firstRun });
    expect(Number((await page.getByTestId('estimate-params').textContent())!.replace(/[^\d]/g, ''))).toBe(2 * first.trainableParams!);
    await page.getByTestId('nr-start').click();
    await page.waitForURL(/#\/runs\/\d+$/, { timeout: 30_000 });
    secondRun = runIdFromUrl();
    expect(secondRun).not.toBe(firstRun);
    await expect.poll(() => runStatus(secondRun), { timeout: 120_000, interval: 500 }).toBe('completed');
    await expect.poll(async () => (await page.getByTestId('run-status').getAttribute('data-status')) ?? '', { timeout: 20_000 }).toBe('completed');

    await page.getByTestId('nav-runs').click();
    await page.getByTestId(`run-row-${secondRun}`).waitFor();
    await page.getByTestId(`run-pick-${firstRun}`).check();
    await page.getByTestId(`run-pick-${secondRun}`).check();
    await page.getByTestId('runs-compare').click();
    await page.getByTestId('compare-view').waitFor();
    // Both loss curves overlaid, step for step.
    await expect.poll(async () => Number(await page.getByTestId('compare-chart').getAttribute('data-lines')), { timeout: 20_000 }).toBe(2);
    await expect.poll(() => points('compare-chart'), { timeout: 20_000 }).toBe(steps);
    // The config diff: the rank is the one setting that differs.
    await expect.poll(async () => (await page.getByTestId('diff-rank').textContent())?.replace(/\s+/g, ' ')).toMatch(new RegExp(`Rank r ?${RANK} ?${2 * RANK}`));
    expect(await page.getByTestId('compare-table').locator('tr.differs').count()).toBe(1);
    // Ticking "same too" lists the rest, identical for both runs (the copied grid included).
    await page.getByTestId('compare-show-same').check();
    await expect.poll(async () => (await page.getByTestId('compare-table').locator('tr', { hasText: 'Target modules' }).count())).toBe(1);
    await page.getByTestId('compare-show-same').uncheck();
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-6-compare');
    watch.assertClean();
  });

  it('7. exports the first run’s adapter as a merged model and as GGUF + Modelfile, each verified', async () => {
    adapterId = (await api<RunDetail>('runs.get', { id: firstRun })).adapterId!;
    expect(adapterId).toBeGreaterThan(0);
    await page.getByTestId('nav-adapters').click();
    await page.getByTestId(`adapter-link-${adapterId}`).click();
    await page.getByTestId('adapter-header').waitFor();
    await page.getByTestId('adapter-tab-export').click();
    const job = (kind: string, status: string) => page.locator(`[data-testid^="export-job-"][data-kind="${kind}"][data-status="${status}"]`);

    await page.getByTestId('export-start-merged').click();
    await job('merged', 'completed').waitFor({ timeout: 120_000 });
    const records = () => api<ExportRecord[]>('exports.list', { adapterId });
    const merged = (await records()).find((r) => r.kind === 'merged')!;
    const check = (merged.result as { verification: { passed: boolean; prompts: number } }).verification;
    expect(check.passed).toBe(true);
    expect(fs.existsSync(path.join(merged.path, 'model.safetensors'))).toBe(true);
    const mergedText = await job('merged', 'completed').getByTestId('export-verification').innerText();
    expect(mergedText).toContain('Verified: the merged model gives the same logits as base + adapter');
    expect(mergedText).toContain(`${check.prompts} prompts`);

    await page.getByTestId('export-modelfile').check();
    await page.getByTestId('export-start-gguf').click();
    await job('gguf', 'completed').waitFor({ timeout: 120_000 });
    const gguf = (await records()).find((r) => r.kind === 'gguf')!;
    const validation = (gguf.result as { validation: { metadataKeys: number; tensorsChecked: number } }).validation;
    const ggufText = await job('gguf', 'completed').getByTestId('export-verification').innerText();
    expect(ggufText).toContain('reads back exactly as written');
    expect(ggufText).toContain(`${validation.metadataKeys} metadata keys and ${validation.tensorsChecked} tensors`);
    expect(await job('gguf', 'completed').getByTestId('export-modelfile-note').innerText()).toContain('Modelfile');
    expect(fs.existsSync(gguf.path)).toBe(true);
    expect(fs.existsSync(path.join(path.dirname(gguf.path), 'Modelfile'))).toBe(true);
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-7-export');
    watch.assertClean();
  });

  it('8. the Playground answers with the base model and the adapter side by side', async () => {
    await page.getByTestId('adapter-try').click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    await expect.poll(() => page.getByTestId('pg-model').inputValue()).toBe(String(model.id));
    const adapterKey = `adapter:${adapterId}`;
    await page.getByTestId(`contender-${adapterKey}`).waitFor();
    // A model with a chat template is asked the way it was trained: a chat message.
    if (card.hasChatTemplate) await page.getByTestId('pg-mode-chat').check();
    await page.getByTestId('pg-prompt').fill('Reverse the order of these words: cat dog sun');
    await page.getByTestId('max-new-tokens').fill('16');
    const before = generated.length;
    await page.getByTestId('pg-generate').click();
    const done = (key: string) => page.locator(`[data-testid="output-${key}"][data-status="done"]`);
    await done('base').waitFor({ timeout: 90_000 });
    await done(adapterKey).waitFor({ timeout: 90_000 });
    // Each column shows its own request's answer, base first; training changed the answer.
    const [base, adapted] = generated.slice(before);
    expect(base.error).toBeUndefined();
    expect(adapted.error).toBeUndefined();
    expect(await page.getByTestId('output-base').getByTestId('output-text').textContent()).toBe(base.text);
    expect(await page.getByTestId(`output-${adapterKey}`).getByTestId('output-text').textContent()).toBe(adapted.text);
    expect(adapted.generatedIds).not.toEqual(base.generatedIds);
    await page.mouse.move(0, 0);
    await screenshot(page, 'flow-8-playground');
    watch.assertClean();
  });
});
