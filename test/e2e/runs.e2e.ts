/**
 * Training from the UI, in Chromium against the web shell, with tiny-random-llama (or the bundled
 * starter model when this copy ships one) and the example Alpaca dataset imported through the
 * datasets calls: configure a run in the module × layer grid (a selection that is not the same in
 * every layer), check the trainable-parameter count shown is the engine's `runs.estimate` for the
 * exact config the page sends, start it, watch the loss chart grow, reload mid-run and see the run
 * re-attached with its whole history and no duplicated step, train a second run from the first
 * one's settings with another rank, then compare both. Screenshots: test-results/new-run.png,
 * run-live.png, runs.png, runs-compare.png (+ run-live-dark.png).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Request } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import { createMetricsRepo } from '../../src/main/storage/repos/metrics';
import { createRunsRepo } from '../../src/main/storage/repos/runs';
import { RunConfig } from '../../src/shared/contract/runs';
import type { AdapterSummary, ImportResult, ModelCard, ModelSummary, RunAnnotation, RunDetail, RunEstimate, RunMetrics, RunPreset, RunSummary } from '../../src/shared/contract';
import { launchChromium, repoRoot, screenshot, startWebShell, watchPage, type WebShell } from './helpers';

const starter = path.join(repoRoot, 'resources', 'starter-model');
const tinyLlama = path.resolve(repoRoot, '../shared/fixtures/models/tiny-random-llama');
const alpaca = path.join(repoRoot, 'examples', 'datasets', 'alpaca.jsonl');
/** Long enough to reload the page mid-run on a fast machine, short enough for a test. */
const STEPS = 40;

describe('runs in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let model: ModelSummary;
  let card: ModelCard;
  let firstRun: number;
  let secondRun: number;
  /** Bodies of the page's runs.estimate calls, in order. */
  const estimateBodies: unknown[] = [];

  const engineCall = <T>(name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' }) as Promise<T>;
  const chartPoints = async (testid: string) => Number((await page.getByTestId(testid).getAttribute('data-points')) ?? '0');
  const runDone = (id: number) => expect.poll(async () => (await engineCall<RunDetail>('runs.get', { id })).status, { timeout: 120_000, interval: 500 }).toBe('completed');

  beforeAll(async () => {
    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    const listed = await engineCall<ModelSummary[]>('models.list');
    model = listed.find((m) => m.source === 'starter') ?? (await engineCall<ModelSummary>('models.add', { path: fs.existsSync(starter) ? starter : tinyLlama }));
    card = await engineCall<ModelCard>('models.show', { id: model.id });
    await engineCall<ImportResult>('datasets.import', { path: alpaca, name: 'alpaca-example', evalFraction: 0.25, seed: 1 });
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

  it('explains the next step when there are no runs', async () => {
    await page.goto(shell.server.url);
    await page.getByTestId('nav-runs').click();
    await page.getByTestId('runs-empty').waitFor();
    watch.assertClean();
  });

  it('configures a run in the grid and shows exactly the engine’s parameter count', async () => {
    await page.getByTestId('runs-new').click();
    await page.getByRole('heading', { level: 1, name: 'New run' }).waitFor();
    // The only model and dataset are picked for a first run.
    await expect.poll(() => page.getByTestId('nr-model').inputValue()).toBe(String(model.id));
    await page.getByTestId('target-grid').waitFor();

    // Attention only, then take q_proj out of layer 0: not the same modules in every layer.
    await page.getByTestId('grid-preset-attention').click();
    await page.getByTestId('grid-cell-0-self_attn.q_proj').click();
    const on = await page.locator('[data-testid="target-grid"] [role="gridcell"][aria-selected="true"]').count();
    expect(on).toBe(4 * card.layers - 1);
    await expect.poll(() => page.getByTestId('grid-summary').textContent()).toContain(`${on} of ${card.layers * card.modules.length}`);

    await page.getByTestId('nr-rank-box').fill('4');
    await page.getByTestId('nr-stop-steps').check();
    await page.getByTestId('nr-max-steps').fill(String(STEPS));
    await page.getByTestId('nr-batch').fill('2');
    await page.getByTestId('nr-seqlen').fill('64');
    await page.getByTestId('nr-lr').fill('0.01');
    await page.getByTestId('nr-eval-every').fill('4');
    await page.getByTestId('nr-ckpt-every').fill('8');
    await page.getByTestId('nr-sample-every').fill('8');
    await page.getByTestId('nr-prompts').fill('What is the capital of Japan?');
    await page.getByTestId('nr-name').fill('grid e2e r4');

    const panel = page.getByTestId('estimate-panel');
    await expect.poll(async () => (await panel.getAttribute('data-pending')) === null && (await page.getByTestId('estimate-params').textContent()) !== '—', { timeout: 20_000 }).toBe(true);
    const shown = Number((await page.getByTestId('estimate-params').textContent())!.replace(/[^\d]/g, ''));

    // The engine's own estimate for the exact config the page sent last.
    const sent = estimateBodies.at(-1) as { config: Record<string, unknown> };
    expect(sent.config).toMatchObject({ model: model.id, rank: 4, maxSteps: STEPS, batchSize: 2 });
    const engine = await engineCall<RunEstimate>('runs.estimate', sent);
    expect(shown).toBe(engine.trainableParams);
    // And it is Σ r·(in + out) over the cells ticked.
    const attention = card.modules.filter((m) => m.module.startsWith('self_attn.'));
    const perLayer = attention.reduce((n, m) => n + 4 * (m.inFeatures + m.outFeatures), 0);
    const q = card.modules.find((m) => m.name === 'q_proj')!;
    expect(shown).toBe(perLayer * card.layers - 4 * (q.inFeatures + q.outFeatures));
    expect(await page.getByTestId('estimate-modules').textContent()).toBe(String(on));

    // Save these settings as a preset (the model and dataset are not part of it).
    await page.getByTestId('preset-save-open').click();
    await page.getByTestId('preset-name').fill('tiny attention r4');
    await page.getByTestId('preset-save').click();
    await expect.poll(async () => (await engineCall<RunPreset[]>('presets.list')).map((p) => [p.name, p.config.rank, p.config.maxSteps])).toEqual([['tiny attention r4', 4, STEPS]]);
    await page.getByTestId('new-run-notice').waitFor();

    await screenshot(page, 'new-run');
    watch.assertClean();
  });

  it('starts the run and draws the loss as it trains', async () => {
    await page.getByTestId('nr-start').click();
    await page.waitForURL(/#\/runs\/\d+$/);
    firstRun = Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);
    await page.getByTestId('chart-loss').waitFor();
    // Every point count the chart shows, recorded in the page as it changes.
    await page.evaluate(() => {
      const g = globalThis as unknown as {
        document: { querySelector(s: string): { getAttribute(n: string): string | null } };
        MutationObserver: new (cb: () => void) => { observe(target: unknown, opts: object): void };
        seenPoints: number[];
      };
      const fig = g.document.querySelector('[data-testid="chart-loss"]');
      g.seenPoints = [Number(fig.getAttribute('data-points'))];
      new g.MutationObserver(() => g.seenPoints.push(Number(fig.getAttribute('data-points')))).observe(fig, { attributes: true, attributeFilter: ['data-points'] });
    });
    const seen = () => page.evaluate(() => (globalThis as unknown as { seenPoints: number[] }).seenPoints);
    // Live: the loss chart grows step by step while the run trains.
    await expect.poll(async () => new Set((await seen()).filter((n) => n > 0)).size, { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
    const counts = await seen();
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
    expect((await engineCall<RunDetail>('runs.get', { id: firstRun })).status).toBe('running');
    await screenshot(page, 'run-live');
    watch.assertClean();
  });

  it('re-attaches after a reload with the whole history and no duplicated step', async () => {
    // Mid-run: the page reloads while the trainer keeps going.
    const before = await engineCall<RunDetail>('runs.get', { id: firstRun });
    expect(before.status).toBe('running');
    await page.reload();
    await page.getByTestId('chart-loss').waitFor();
    // The stored history comes back at once, before any new step.
    await expect.poll(() => chartPoints('chart-loss'), { timeout: 10_000 }).toBeGreaterThan(0);
    await runDone(firstRun);
    await expect.poll(async () => (await page.getByTestId('run-status').getAttribute('data-status')) ?? '', { timeout: 10_000 }).toBe('completed');
    const stored = await engineCall<RunMetrics>('runs.metrics', { id: firstRun });
    await expect.poll(() => chartPoints('chart-loss'), { timeout: 10_000 }).toBe(stored.loss.length);
    expect(stored.loss.map((p) => p.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // Samples and checkpoints arrived too.
    await expect.poll(() => page.getByTestId('sample-text').count()).toBeGreaterThan(0);
    await page.getByTestId(`checkpoint-${STEPS}`).waitFor();
    // The dark theme, set in the engine as the Settings page would.
    await engineCall('settings.update', { theme: 'dark' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    await screenshot(page, 'run-live-dark');
    await engineCall('settings.update', { theme: 'light' });
    await page.locator('html[data-theme="light"]').waitFor({ state: 'attached' });
    watch.assertClean();
  });

  it('runs again from the first run’s settings with another rank', async () => {
    await page.getByTestId('run-again').click();
    await page.getByRole('heading', { level: 1, name: 'New run' }).waitFor();
    await page.getByTestId('new-run-notice').waitFor();
    // The copied selection comes back cell for cell.
    await expect.poll(() => page.locator('[data-testid="target-grid"] [role="gridcell"][aria-selected="true"]').count()).toBe(4 * card.layers - 1);
    await page.getByTestId('nr-rank-box').fill('8');
    await page.getByTestId('nr-name').fill('grid e2e r8');
    await expect.poll(async () => (await page.getByTestId('estimate-panel').getAttribute('data-pending')) === null, { timeout: 20_000 }).toBe(true);
    // Twice the rank, twice the parameters; and now the first run's measured speed gives a time per step.
    await expect.poll(async () => (await page.getByTestId('estimate-params').textContent())?.replace(/[^\d]/g, '')).toBe(String(2 * (await engineCall<RunDetail>('runs.get', { id: firstRun })).trainableParams!));
    await expect.poll(() => page.getByTestId('estimate-step-time').textContent(), { timeout: 20_000 }).toMatch(/^≈ [\d.]+ s$/);
    await screenshot(page, 'new-run-copied');
    await page.getByTestId('nr-start').click();
    await page.waitForURL(/#\/runs\/\d+$/);
    secondRun = Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);
    expect(secondRun).not.toBe(firstRun);
    await runDone(secondRun);
    const d = await engineCall<RunDetail>('runs.get', { id: secondRun });
    expect(d.config.rank).toBe(8);
    watch.assertClean();
  });

  it('lists, tags and compares the two runs', async () => {
    await page.getByTestId('nav-runs').click();
    await page.getByTestId(`run-row-${secondRun}`).waitFor();
    // Tag the first run from its row.
    await page.getByTestId(`run-notes-${firstRun}`).click();
    await page.getByTestId(`notes-tags-${firstRun}`).getByTestId('tag-input').fill('baseline');
    await page.getByTestId(`notes-tags-${firstRun}`).getByTestId('tag-input').press('Enter');
    await expect.poll(async () => (await engineCall<RunAnnotation[]>('runs.annotations')).find((a) => a.id === firstRun)?.tags).toEqual(['baseline']);
    // Search narrows the list.
    await page.getByTestId('runs-search').fill('r8');
    await expect.poll(() => page.locator('[data-testid^="run-row-"]').count()).toBe(1);
    await page.getByTestId('runs-search').fill('');
    await screenshot(page, 'runs');

    await page.getByTestId(`run-pick-${firstRun}`).check();
    await page.getByTestId(`run-pick-${secondRun}`).check();
    await page.getByTestId('runs-compare').click();
    await page.getByTestId('compare-view').waitFor();
    const chart = page.getByTestId('compare-chart');
    await expect.poll(async () => Number(await chart.getAttribute('data-lines'))).toBe(2);
    await expect.poll(() => chartPoints('compare-chart')).toBe(STEPS);
    const rankRow = page.getByTestId('diff-rank');
    await expect.poll(() => rankRow.textContent()).toMatch(/Rank r\s*4\s*8/);
    await screenshot(page, 'runs-compare');
    // The comparison is in the address: a reload shows it again.
    await page.reload();
    await page.getByTestId('compare-view').waitFor();
    await expect.poll(async () => Number(await page.getByTestId('compare-chart').getAttribute('data-lines'))).toBe(2);
    const runs = await engineCall<RunSummary[]>('runs.list');
    expect(runs.map((r) => r.id).sort()).toEqual([firstRun, secondRun].sort());

    // Runs tagged as a sweep are plotted against their rank.
    for (const id of [firstRun, secondRun]) await engineCall('runs.setTags', { id, tags: ['rank-sweep'] });
    await page.reload();
    await expect.poll(async () => Number(await page.getByTestId('sweep-chart').getAttribute('data-points')), { timeout: 10_000 }).toBe(2);
    await screenshot(page, 'runs-sweep');
    watch.assertClean();
  });

  it('draws a 100k-step history and re-smooths it without lag', async () => {
    // A finished run with 100,000 stored loss points, written as the runs service writes them.
    const repo = createRunsRepo(shell.engine.db);
    const rec = repo.create({
      name: 'long history',
      modelId: model.id,
      datasetVersionId: null,
      parentAdapterId: null,
      config: RunConfig.parse({ model: model.id, dataset: 1, maxSteps: 100_000 }),
      template: null,
      ownerPid: process.pid,
      estimate: null,
    });
    repo.update(rec.id, { status: 'completed', startedAt: new Date(Date.now() - 3_600_000).toISOString(), finishedAt: new Date().toISOString() });
    const rows = [];
    for (let i = 1; i <= 100_000; i++) rows.push({ name: 'loss', step: i, value: 3 / Math.sqrt(i) + 0.2 * Math.sin(i / 7) + 0.5 }, { name: 'lr', step: i, value: 1e-4 });
    createMetricsRepo(shell.engine.db).insert(rec.id, rows);

    const t0 = Date.now();
    await page.goto(`${new URL(shell.server.url).origin}/#/runs/${rec.id}`);
    await expect.poll(() => chartPoints('chart-loss'), { timeout: 20_000 }).toBe(100_000);
    const loadMs = Date.now() - t0;
    // Moving the smoothing slider redraws all four charts within a frame or two.
    const redraw = await page.evaluate(async () => {
      const g = globalThis as unknown as {
        document: { querySelector(s: string): { value: string; dispatchEvent(e: unknown): boolean } };
        Event: new (type: string, init: object) => unknown;
        requestAnimationFrame(cb: () => void): void;
        performance: { now(): number };
      };
      const slider = g.document.querySelector('[data-testid="chart-smoothing"]');
      const start = g.performance.now();
      slider.value = '0.9';
      slider.dispatchEvent(new g.Event('input', { bubbles: true }));
      await new Promise<void>((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(() => r())));
      return g.performance.now() - start;
    });
    console.info(`100k points: page + history ${loadMs} ms, re-smoothing redraw ${redraw.toFixed(0)} ms`);
    // Reported, not asserted: timings on a shared CPU are not a test (see docs/benchmarks.md).
    expect(redraw).toBeGreaterThan(0);
    await screenshot(page, 'run-100k', false);
    watch.assertClean();
    await engineCall('runs.delete', { id: rec.id });
  });

  it('pauses, resumes and cancels a long run, exports a checkpoint, then deletes the run', async () => {
    await page.goto(`${new URL(shell.server.url).origin}/#/runs/new`);
    await page.getByTestId('start-preset').selectOption({ label: 'tiny attention r4 · r 4, lr 0.01' });
    await expect.poll(() => page.getByTestId('nr-max-steps').inputValue()).toBe(String(STEPS));
    await page.getByTestId('nr-max-steps').fill('5000');
    await page.getByTestId('nr-ckpt-every').fill('4');
    await page.getByTestId('nr-sample-every').fill('0');
    await page.getByTestId('nr-name').fill('long run');
    await expect.poll(async () => (await page.getByTestId('estimate-steps').textContent()) === '5,000' && (await page.getByTestId('estimate-panel').getAttribute('data-pending')) === null, { timeout: 20_000 }).toBe(true);
    await page.getByTestId('nr-start').click();
    await page.waitForURL(/#\/runs\/\d+$/);
    const id = Number(/#\/runs\/(\d+)$/.exec(page.url())![1]);
    const status = () => page.getByTestId('run-status').getAttribute('data-status');
    await expect.poll(() => chartPoints('chart-loss'), { timeout: 60_000 }).toBeGreaterThan(0);

    await page.getByTestId('run-pause').click();
    await expect.poll(status, { timeout: 30_000 }).toBe('paused');
    const pausedAt = await chartPoints('chart-loss');
    await page.waitForTimeout(1500);
    expect(await chartPoints('chart-loss')).toBe(pausedAt);
    await page.getByTestId('run-resume').click();
    await expect.poll(status, { timeout: 30_000 }).toBe('running');
    await page.getByTestId('checkpoint-4').waitFor({ timeout: 60_000 });
    await page.getByTestId('run-cancel').click();
    await expect.poll(status, { timeout: 60_000 }).toBe('cancelled');
    await page.getByTestId('run-trouble').waitFor();

    // The checkpoint joins the adapter library, ready for the export buttons there.
    await page.getByTestId('checkpoint-export-4').click();
    await page.getByTestId('checkpoint-open-4').waitFor({ timeout: 30_000 });
    const adapters = await engineCall<AdapterSummary[]>('adapters.list');
    const fromCheckpoint = adapters.find((a) => a.name === 'long run · step 4');
    expect(fromCheckpoint).toMatchObject({ rank: 4, baseModelId: model.id });

    // Continue training that adapter: its rank and modules are kept (shown, not editable).
    await page.goto(`${new URL(shell.server.url).origin}/#/runs/new?adapter=${fromCheckpoint!.id}`);
    await expect.poll(() => page.getByTestId('start-adapter').inputValue()).toBe(String(fromCheckpoint!.id));
    expect(await page.getByTestId('nr-rank-box').isDisabled()).toBe(true);
    await expect.poll(() => page.locator('[data-testid="target-grid"] [role="gridcell"][aria-selected="true"]').count()).toBe(4 * card.layers - 1);
    // Σ r·(in+out) over the attention cells minus layer 0's q_proj, at the checkpoint's rank 4.
    const attention = card.modules.filter((m) => ['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(m.name));
    const q = attention.find((m) => m.name === 'q_proj')!;
    const expected = 4 * (attention.reduce((n, m) => n + m.inFeatures + m.outFeatures, 0) * card.layers - (q.inFeatures + q.outFeatures));
    await expect.poll(async () => (await page.getByTestId('estimate-params').textContent())?.replace(/[^\d]/g, ''), { timeout: 20_000 }).toBe(String(expected));

    await page.getByTestId('nav-runs').click();
    await page.getByTestId(`run-delete-${id}`).click();
    await page.getByTestId('delete-run-confirm').click();
    await expect.poll(() => page.getByTestId(`run-row-${id}`).count()).toBe(0);
    expect((await engineCall<RunSummary[]>('runs.list')).some((r) => r.id === id)).toBe(false);
    watch.assertClean();
  });
});
