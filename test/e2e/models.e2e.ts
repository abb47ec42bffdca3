/**
 * The Models page in Chromium against the web shell: the library (the starter model, or the empty
 * state), adding a folder by its path, by browsing the server's home folder and from the Hugging
 * Face cache; the model card and its module × layer map checked against the engine's own card; a
 * bad folder's error; removing with confirmation (the files stay). Screenshots:
 * test-results/models.png, model-card.png, model-card-dark.png, models-bad-folder.png.
 *
 * The server runs in this process, so HOME and HF_HUB_CACHE point at temp folders built here: a
 * home with a model folder inside (a link to a fixture) and a hub cache laid out as
 * huggingface_hub writes it (snapshot files linking into blobs/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import type { ModelCard, ModelSummary } from '../../src/shared/contract';
import { launchChromium, repoRoot, resultsDir, screenshot, startWebShell, tempDir, watchPage, type WebShell } from './helpers';

const fixtures = path.resolve(repoRoot, '../shared/fixtures/models');
const llama = path.join(fixtures, 'tiny-random-llama');
const gpt2 = path.join(fixtures, 'tiny-gpt2');
const notAModel = path.resolve(repoRoot, '../shared/fixtures/tokenizers/llama2-spm');

/** A hub cache entry for `src` as huggingface_hub lays it out: blobs/ + snapshots/<commit>/ links + refs/main. */
function fakeHubEntry(hub: string, repoId: string, src: string, commit: string): string {
  const repoDir = path.join(hub, `models--${repoId.replace('/', '--')}`);
  const snap = path.join(repoDir, 'snapshots', commit);
  fs.mkdirSync(path.join(repoDir, 'blobs'), { recursive: true });
  fs.mkdirSync(snap, { recursive: true });
  fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repoDir, 'refs', 'main'), commit);
  for (const f of fs.readdirSync(src)) {
    const blob = path.join(repoDir, 'blobs', `blob-${f}`);
    fs.symlinkSync(path.join(src, f), blob);
    fs.symlinkSync(path.relative(snap, blob), path.join(snap, f));
  }
  return snap;
}

describe('models page in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let home: string;
  let hub: string;
  let hubSnapshot: string;
  const saved = { HOME: process.env.HOME, HF_HUB_CACHE: process.env.HF_HUB_CACHE };

  const engineCall = <T>(name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' }) as Promise<T>;
  const library = () => engineCall<ModelSummary[]>('models.list');
  const item = (m: ModelSummary) => page.getByTestId(`model-item-${m.id}`);

  beforeAll(async () => {
    home = tempDir('e2e-home');
    fs.mkdirSync(path.join(home, 'models'));
    fs.symlinkSync(gpt2, path.join(home, 'models', 'tiny-gpt2'));
    fs.mkdirSync(path.join(home, 'notes'));
    fs.writeFileSync(path.join(home, 'notes', 'todo.txt'), 'not a model\n');
    hub = tempDir('e2e-hub');
    hubSnapshot = fakeHubEntry(hub, 'fixtures/tiny-random-llama', llama, '0123456789abcdef0123456789abcdef01234567');
    fs.mkdirSync(resultsDir, { recursive: true });
    process.env.HOME = home;
    process.env.HF_HUB_CACHE = hub;

    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    for (const d of [home, hub]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('shows the starter model on first start, or an empty library that says what to do', async () => {
    await page.goto(shell.server.url);
    await page.getByRole('heading', { level: 1, name: 'Models' }).waitFor();
    const models = await library();
    const starter = models.find((m) => m.source === 'starter');
    if (starter) {
      await item(starter).waitFor();
      expect(await item(starter).textContent()).toContain('Starter');
      await page.getByTestId('model-card').getByRole('heading', { name: starter.name }).waitFor();
    } else {
      // This checkout ships no resources/starter-model: the empty state explains the next step.
      expect(models).toEqual([]);
      const empty = page.getByTestId('models-empty');
      await empty.waitFor();
      expect(await empty.textContent()).toContain('config.json');
      await screenshot(page, 'models-empty');
    }
    // The hub cache built above is found and offered.
    await page.getByTestId('hf-item-fixtures/tiny-random-llama').waitFor();
    watch.assertClean();
  });

  it('adds a folder typed in the path field; the card and its module × layer map match the engine', async () => {
    await page.getByTestId('model-path').fill(llama);
    await page.getByTestId('model-add').click();
    await expect.poll(async () => (await library()).some((m) => m.path === llama)).toBe(true);
    const added = (await library()).find((m) => m.path === llama)!;
    await item(added).waitFor();
    expect(await page.getByTestId('model-path').inputValue()).toBe('');

    const truth = await engineCall<ModelCard>('models.show', { id: added.id });
    const card = page.getByTestId('model-card');
    await card.getByRole('heading', { name: added.name }).waitFor();
    const map = card.getByTestId('module-map');
    await map.waitFor();
    expect(Number(await map.getAttribute('data-layers'))).toBe(truth.layers);
    expect(Number(await map.getAttribute('data-modules'))).toBe(truth.modules.length);
    expect(await map.locator('[role="gridcell"]').count()).toBe(truth.layers * truth.modules.length);
    expect(truth.layers * truth.modules.length).toBe(2 * 7);
    expect(await map.locator('[role="columnheader"]').allTextContents()).toEqual([
      'Layer',
      ...truth.modules.map((m) => `${m.name}${m.inFeatures}→${m.outFeatures}`),
    ]);
    const facts = await card.getByTestId('model-facts').textContent();
    expect(facts).toContain(truth.architecture!);
    expect(facts).toContain('32,000 tokens');
    expect(facts).toContain('2 transformer blocks');
    expect(facts).toContain('1.03 M');

    // Hover shows a cell's shape; the arrow keys move through the grid.
    const gate = map.locator('[data-layer="1"][data-module="gate_proj"]');
    await gate.hover();
    const tip = card.getByTestId('module-map-tooltip');
    expect(await tip.textContent()).toContain('Layer 1 · gate_proj');
    expect(await tip.textContent()).toContain('16 → 64');
    await map.locator('[data-layer="0"][data-module="q_proj"]').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    expect(await tip.textContent()).toContain('Layer 1 · k_proj');
    await gate.hover();
    await card.screenshot({ path: path.join(resultsDir, 'model-card.png') });
    watch.assertClean();
  });

  it('a bad folder shows the engine’s message, which names the cause, and what to do; nothing is added', async () => {
    const before = await library();
    await page.getByTestId('model-path').fill(notAModel);
    await page.getByTestId('model-add').click();
    const error = page.getByTestId('add-error');
    await error.waitFor();
    const text = await error.textContent();
    expect(text).toContain(`${notAModel}: not a model folder (no config.json)`);
    expect(text).toContain('Pick the folder that holds config.json');
    await screenshot(page, 'models-bad-folder');
    // Editing the path clears the old error; a missing folder says so.
    await page.getByTestId('model-path').fill('/nonexistent/model-folder');
    await error.waitFor({ state: 'detached' });
    await page.getByTestId('model-path').press('Enter');
    await error.getByText('/nonexistent/model-folder: no such folder').waitFor();
    expect(await library()).toEqual(before);
    await page.getByTestId('model-path').fill('');
    watch.reset(); // the two 400 answers were asked for
  });

  it('browses the server’s home folder, marks model folders and adds the chosen one', async () => {
    await page.getByTestId('model-browse').click();
    const dialog = page.getByTestId('folder-browser');
    await dialog.waitFor();
    await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(home);
    await dialog.locator('[data-entry="notes"]').waitFor();
    await dialog.locator('[data-entry="models"]').click();
    await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(path.join(home, 'models'));
    const entry = dialog.locator('[data-entry="tiny-gpt2"]');
    expect(await entry.getAttribute('data-model')).toBe('true');
    await screenshot(page, 'models-browse');
    await dialog.getByTestId('browse-choose-tiny-gpt2').click();
    await dialog.waitFor({ state: 'hidden' });
    const target = path.join(home, 'models', 'tiny-gpt2');
    await expect.poll(async () => (await library()).some((m) => m.path === target)).toBe(true);
    const added = (await library()).find((m) => m.path === target)!;
    // GPT-2's two c_proj modules (attention and MLP) are both columns.
    const map = page.getByTestId('model-card').getByTestId('module-map');
    await expect.poll(() => map.getAttribute('data-modules')).toBe('4');
    expect(await map.locator('[role="gridcell"]').count()).toBe(2 * 4);
    expect(await item(added).getAttribute('aria-current')).toBe('true');
    watch.assertClean();
  });

  it('adds a model found in the Hugging Face cache with one click', async () => {
    await page.getByTestId('hf-add-fixtures/tiny-random-llama').click();
    await expect.poll(async () => (await library()).some((m) => m.path === hubSnapshot)).toBe(true);
    const row = page.getByTestId('hf-item-fixtures/tiny-random-llama');
    await row.getByText('In library').waitFor();
    const added = (await library()).find((m) => m.path === hubSnapshot)!;
    expect(added.name).toBe('fixtures/tiny-random-llama');
    await item(added).waitFor();
    // The new model's card opens.
    await expect.poll(() => item(added).getAttribute('aria-current')).toBe('true');
    await screenshot(page, 'models');
    watch.assertClean();
  });

  it('removes a model only after confirming, and leaves its files on disk', async () => {
    const target = (await library()).find((m) => m.path === llama)!;
    await item(target).click();
    const card = page.getByTestId('model-card');
    await card.getByRole('heading', { name: target.name }).waitFor();
    await card.getByTestId('model-remove').click();
    const dialog = page.getByTestId('remove-dialog');
    await dialog.getByText('stay on disk').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect((await library()).some((m) => m.id === target.id)).toBe(true);

    await card.getByTestId('model-remove').click();
    await dialog.getByTestId('remove-confirm').click();
    await item(target).waitFor({ state: 'detached' });
    expect((await library()).some((m) => m.id === target.id)).toBe(false);
    expect(fs.existsSync(path.join(llama, 'config.json'))).toBe(true);
    expect(fs.existsSync(path.join(llama, 'model.safetensors'))).toBe(true);
    watch.assertClean();
  });

  it('“Try in Playground” opens the playground with the model picked', async () => {
    const target = (await library()).find((m) => m.path === hubSnapshot)!;
    await item(target).click();
    await page.getByTestId('model-card').getByTestId('model-try').click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    await expect.poll(() => page.getByTestId('pg-model').inputValue()).toBe(String(target.id));
    await page.getByTestId('nav-models').click();
    await page.getByRole('heading', { level: 1, name: 'Models' }).waitFor();
    watch.assertClean();
  });

  it('reads well in the dark theme', async () => {
    await engineCall('settings.update', { theme: 'dark' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    const first = (await library())[0];
    await item(first).click();
    const map = page.getByTestId('model-card').getByTestId('module-map');
    await map.locator('[role="gridcell"]').first().hover();
    await page.getByTestId('model-card').screenshot({ path: path.join(resultsDir, 'model-card-dark.png') });
    await engineCall('settings.update', { theme: 'light' });
    await page.locator('html[data-theme="light"]').waitFor({ state: 'attached' });
    watch.assertClean();
  });
});
