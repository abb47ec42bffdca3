/**
 * The Datasets page in Chromium against the web shell, with tiny-random-llama in the library:
 * importing the files of examples/datasets through the path field (and one chosen in the browser of
 * the server's home folder) — a first look (type, keys,
 * detected shape and its column mapping, the first rows as they will be stored), a file whose
 * columns no shape names mapped by hand, a large file's import with progress and Cancel, the
 * validation report of malformed.jsonl (abort: nothing imported, with the first bad line; skip:
 * every bad line with its reason) — then a dataset as the user sees it and as the model sees it
 * (trained tokens highlighted apart from masked ones, and exactly the assistant replies), its
 * token-length histogram and truncation share at a chosen max length, and deleting it.
 * Screenshots: test-results/datasets.png, datasets-preview.png, datasets-validation.png,
 * datasets-mapping.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import type { DatasetDetail, DatasetStats, DatasetSummary, ModelSummary, PreviewResult } from '../../src/shared/contract';
import { formatPercent } from '../../src/renderer/src/format';
import { launchChromium, repoRoot, screenshot, startWebShell, tempDir, watchPage, type WebShell } from './helpers';

const examples = path.join(repoRoot, 'examples', 'datasets');
const llama = path.resolve(repoRoot, '../shared/fixtures/models/tiny-random-llama');
/** Rows of the generated file whose import is cancelled: seconds of work on this machine. */
const BIG_ROWS = 3_000_000;
/** The ChatML end-of-turn marker: trained with each reply (tiny-random-llama has no template of its own). */
const END_OF_TURN = '<|im_end|>';

/** What a token span carries in the page (the folder has no DOM types; see page-types.ts). */
interface TokenSpan {
  classList: { contains(name: string): boolean };
  textContent: string | null;
}

describe('datasets page in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let model: ModelSummary;
  let work: string;
  let bigFile: string;
  let ticketsFile: string;
  let messagesId: number;

  const engineCall = <T>(name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' }) as Promise<T>;
  const datasets = () => engineCall<DatasetSummary[]>('datasets.list');
  const importPanel = () => page.getByTestId('dataset-import');
  const squash = (s: string | null) => (s ?? '').replace(/\s+/g, ' ').trim();

  /** The messages an example view shows: role (its label) and text. */
  async function shownMessages(view: Locator): Promise<{ role: string; content: string }[]> {
    const messages = view.locator('.message');
    const out = [];
    for (let i = 0; i < (await messages.count()); i++) {
      const m = messages.nth(i);
      out.push({ role: ((await m.locator('.role').textContent()) ?? '').trim(), content: (await m.locator('.text').textContent()) ?? '' });
    }
    return out;
  }

  /** Types a path and presses "Look at it", as a user would. */
  async function look(file: string): Promise<void> {
    await page.getByTestId('dataset-path').fill(file);
    await page.getByTestId('dataset-inspect').click();
    await expect.poll(() => page.getByTestId('inspect-summary').textContent(), { timeout: 20_000 }).toContain(file);
  }

  beforeAll(async () => {
    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    // Beside the starter model where one ships: its own template is not the point here.
    model = await engineCall<ModelSummary>('models.add', { path: llama });
    work = tempDir('e2e-datasets');
    // A support-desk export whose columns no known shape names.
    ticketsFile = path.join(work, 'tickets.jsonl');
    fs.writeFileSync(
      ticketsFile,
      ['{"ticket": "The printer says offline.", "fix": "Restart the print spooler."}', '{"ticket": "VPN drops every hour.", "fix": "Update the VPN client."}', ''].join('\n'),
    );
    // Large enough that the import is still running when Cancel is pressed.
    bigFile = path.join(work, 'big.jsonl');
    const out = fs.openSync(bigFile, 'w');
    for (let start = 0; start < BIG_ROWS; start += 50_000) {
      let chunk = '';
      for (let i = start; i < start + 50_000; i++) chunk += `{"instruction": "Add ${i} and ${i + 1}.", "input": "", "output": "${2 * i + 1}"}\n`;
      fs.writeSync(out, chunk);
    }
    fs.closeSync(out);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('starts empty, saying how to import', async () => {
    await page.goto(shell.server.url);
    await page.getByTestId('nav-datasets').click();
    await page.getByRole('heading', { level: 1, name: 'Datasets' }).waitFor();
    await page.getByTestId('datasets-empty').getByText('Look at it first', { exact: false }).waitFor();
    watch.assertClean();
  });

  it('looks at a TSV: detected shape, its column mapping and the first rows as they will be stored; imports it', async () => {
    const file = path.join(examples, 'qa.tsv');
    await look(file);
    expect(squash(await page.getByTestId('inspect-summary').textContent())).toContain('tsv');
    expect(squash(await page.getByTestId('inspect-summary').textContent())).toContain('keys: question, answer');
    // Detected: prompt-completion, its fields read from the file's own columns.
    expect(await page.getByTestId('dataset-shape').locator('option:checked').textContent()).toBe('Detected: prompt-completion');
    expect(await page.getByTestId('map-prompt').inputValue()).toBe('question');
    expect(await page.getByTestId('map-completion').inputValue()).toBe('answer');
    expect(await page.getByTestId('map-system').inputValue()).toBe('');
    const samples = importPanel().getByTestId('example-view');
    expect(await samples.count()).toBe(4);
    const first = squash(await samples.first().innerText());
    expect(first).toContain('What is the boiling point of water at sea level?');
    expect(first).toContain('100 °C (212 °F).');

    await page.getByTestId('dataset-import-start').click();
    const result = page.getByTestId('import-result');
    await result.getByText('Imported 4 rows (prompt-completion, tsv)', { exact: false }).waitFor({ timeout: 30_000 });
    const qa = (await datasets()).find((d) => d.name === 'qa')!;
    expect(qa).toMatchObject({ shape: 'prompt-completion', format: 'tsv', latest: { rows: 4 } });
    // The new dataset opens beside the list.
    await page.getByTestId(`dataset-item-${qa.id}`).waitFor();
    await expect.poll(() => page.getByTestId(`dataset-item-${qa.id}`).getAttribute('aria-current')).toBe('true');
    watch.assertClean();
  });

  it('browses the server’s home folder to a dataset file and looks at the chosen file', async () => {
    // The web shell lists only the home folder: make it the one holding the generated files.
    const savedHome = process.env.HOME;
    process.env.HOME = work;
    try {
      // (the field still holds the last file, outside this home: start from an empty one)
      await page.getByTestId('dataset-path').fill('');
      await page.getByTestId('dataset-browse').click();
      const dialog = page.getByTestId('folder-browser');
      await dialog.waitFor();
      await expect.poll(() => dialog.getByTestId('browse-path').textContent()).toBe(work);
      // dataset files are listed and can be chosen; other files are only counted
      await dialog.getByTestId('browse-file-tickets.jsonl').waitFor();
      expect(await dialog.getByTestId('browse-file-big.jsonl').count()).toBe(1);
      await screenshot(page, 'datasets-browse');
      await dialog.getByTestId('browse-file-tickets.jsonl').click();
      await dialog.waitFor({ state: 'hidden' });
      expect(await page.getByTestId('dataset-path').inputValue()).toBe(ticketsFile);
      await expect.poll(() => page.getByTestId('inspect-summary').textContent(), { timeout: 20_000 }).toContain(ticketsFile);
    } finally {
      process.env.HOME = savedHome;
    }
    watch.assertClean();
  });

  it('maps the columns of a file no shape names, watching the first rows change', async () => {
    await look(ticketsFile);
    const shapeError = page.getByTestId('shape-error');
    await shapeError.waitFor();
    expect(await shapeError.textContent()).toContain('keys found: ticket, fix');
    expect(await page.getByTestId('dataset-import-start').isDisabled()).toBe(true);

    await page.getByTestId('dataset-shape').selectOption('prompt-completion');
    // Looked at again with that shape: the default keys are missing from every row.
    await importPanel().getByText('missing field "prompt"').first().waitFor({ timeout: 20_000 });
    await page.getByTestId('map-prompt').fill('ticket');
    await page.getByTestId('map-prompt').press('Tab');
    await importPanel().getByText('missing field "completion"').first().waitFor({ timeout: 20_000 });
    await page.getByTestId('map-completion').fill('fix');
    await page.getByTestId('map-completion').press('Tab');
    const samples = importPanel().getByTestId('example-view');
    await expect.poll(() => samples.count(), { timeout: 20_000 }).toBe(2);
    expect(await shownMessages(samples.first())).toEqual([
      { role: 'user', content: 'The printer says offline.' },
      { role: 'assistant', content: 'Restart the print spooler.' },
    ]);
    await screenshot(page, 'datasets-mapping');

    await page.getByTestId('dataset-import-start').click();
    await page.getByTestId('import-result').getByText('Imported 2 rows (prompt-completion, jsonl)', { exact: false }).waitFor({ timeout: 30_000 });
    const tickets = (await datasets()).find((d) => d.name === 'tickets')!;
    expect(tickets.mapping).toMatchObject({ prompt: 'ticket', completion: 'fix' });
    const rows = await engineCall<PreviewResult>('datasets.preview', { id: tickets.id });
    expect(rows.rows[1].example).toEqual({ messages: [{ role: 'user', content: 'VPN drops every hour.' }, { role: 'assistant', content: 'Update the VPN client.' }] });
    watch.assertClean();
  });

  it('shows a large import’s progress and cancels it, keeping nothing', async () => {
    const before = await datasets();
    await look(bigFile);
    await page.getByTestId('dataset-import-start').click();
    const progress = page.getByTestId('import-progress');
    await progress.waitFor();
    // Rows counted, a bar that moves, and a time left, while it reads.
    const numbers = progress.getByTestId('import-numbers');

    await expect.poll(async () => squash(await numbers.textContent()), { timeout: 30_000 }).toMatch(/[\d,]+ rows · [\d,]+ rows\/s · .* time left/);
    await expect.poll(async () => Number(await progress.getByRole('progressbar').getAttribute('aria-valuenow')), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await progress.getByText('Reading and checking rows').count()).toBe(1);

    // (No screenshot here: this process also runs the import, and a screenshot outlasts it.)
    await progress.getByTestId('import-cancel').click();
    await importPanel().getByText('Import cancelled; nothing was kept.').waitFor({ timeout: 30_000 });
    await progress.waitFor({ state: 'detached' });
    expect(await datasets()).toEqual(before);
    // The cancelled call answers 409, which Chromium also logs as a failed resource.
    watch.allow(/^HTTP 409 for POST \S+\/api\/call\/datasets\.import$/, /^console error: Failed to load resource: the server responded with a status of 409/);
    watch.assertClean();
  });

  it('stops at the first bad line of malformed.jsonl when asked, or skips and reports every bad line', async () => {
    const file = path.join(examples, 'malformed.jsonl');
    const before = await datasets();
    await look(file);
    // The first look already flags line 2.
    await importPanel().getByText('✗ bad JSON', { exact: false }).first().waitFor();

    await page.getByRole('radio', { name: 'Stop, import nothing' }).check();
    await page.getByTestId('dataset-import-start').click();
    const stopped = importPanel().getByRole('alert').filter({ hasText: 'The import stopped; nothing was kept' });
    await stopped.waitFor({ timeout: 30_000 });
    expect(await stopped.textContent()).toMatch(/line 2: bad JSON/);
    expect(await datasets()).toEqual(before);
    watch.allow(/^HTTP 400 for POST \S+\/api\/call\/datasets\.import$/, /^console error: Failed to load resource: the server responded with a status of 400/);

    await page.getByRole('radio', { name: 'Skip and report' }).check();
    await page.getByTestId('dataset-import-start').click();
    const result = page.getByTestId('import-result');
    await result.getByText('Imported 2 rows (alpaca, jsonl)', { exact: false }).waitFor({ timeout: 30_000 });
    const imported = (await datasets()).find((d) => d.name === 'malformed')!;
    const expected = imported.latest.skipped;
    expect(expected.map((s) => s.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(squash(await result.textContent())).toContain('7 lines were left out:');
    // The report: every bad line with the engine's reason.
    const rows = result.getByTestId('skipped-lines').locator('tbody tr');
    expect(await rows.count()).toBe(expected.length);
    for (let i = 0; i < expected.length; i++) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      expect(cells.map((c) => c.trim())).toEqual([String(expected[i].line), expected[i].reason]);
    }
    expect(expected.map((s) => s.reason.replace(/:.*$/, ''))).toEqual(['bad JSON', 'missing field "output"', 'wrong type', 'empty completion (message 2)', 'bad JSON', 'invalid UTF-8', 'wrong type']);
    // The dataset keeps the report too.
    await page.getByTestId('dataset-details').getByText('7 lines were left out at import').waitFor();
    await page.mouse.move(0, 0);
    await screenshot(page, 'datasets-validation');
    watch.assertClean();
  });

  it('shows a chat dataset as the user wrote it', async () => {
    await look(path.join(examples, 'messages.jsonl'));
    expect(await page.getByTestId('dataset-shape').locator('option:checked').textContent()).toBe('Detected: messages');
    await page.getByTestId('dataset-import-start').click();
    await page.getByTestId('import-result').getByText('Imported 6 rows (messages, jsonl)', { exact: false }).waitFor({ timeout: 30_000 });
    messagesId = (await datasets()).find((d) => d.name === 'messages')!.id;
    const details = page.getByTestId('dataset-details');
    await details.getByRole('heading', { name: 'messages', exact: true }).waitFor();
    expect(await page.getByTestId('tab-user').getAttribute('aria-selected')).toBe('true');
    const views = page.getByTestId('preview-rows').getByTestId('example-view');
    await expect.poll(() => views.count()).toBe(5);
    const engine = await engineCall<PreviewResult>('datasets.preview', { id: messagesId, limit: 5 });
    for (let i = 0; i < 5; i++) {
      const ex = engine.rows[i].example as { messages: { role: string; content: string }[] };
      expect(await shownMessages(views.nth(i))).toEqual(ex.messages.map(({ role, content }) => ({ role, content })));
    }
    await expect.poll(() => page.getByTestId('preview-rows').locator('.pager').textContent()).toContain('1–5 of 6');
    watch.assertClean();
  });

  it('shows it as the model sees it: trained tokens highlighted apart from masked ones, and they are exactly the assistant replies', async () => {
    await page.getByTestId('preview-model').selectOption(String(model.id));
    await page.getByTestId('tab-model').click();
    const tokenViews = page.getByTestId('preview-rows').getByTestId('token-view');
    await expect.poll(() => tokenViews.count(), { timeout: 20_000 }).toBe(5);
    await page.getByText('Template: chatml (the model has no chat template; using the built-in ChatML)', { exact: false }).waitFor();

    const engine = await engineCall<PreviewResult>('datasets.preview', { id: messagesId, limit: 5, model: model.id, template: 'model', maxLength: 1024 });
    const heads = page.getByTestId('preview-rows').locator('.row-head');
    for (let i = 0; i < 5; i++) {
      const row = engine.rows[i];
      const spans = await tokenViews.nth(i).locator('.tok').evaluateAll((els) =>
        (els as unknown as TokenSpan[]).map((el) => ({ trained: el.classList.contains('trained'), masked: el.classList.contains('masked'), text: el.textContent ?? '' })),
      );
      // Token for token what the engine renders, shown with visible line breaks.
      expect(spans.map((s) => s.text.replace(/↵\n/g, '\n').replace(/⇥/g, '\t'))).toEqual(row.rendered!.pieces.map((p) => p.text));
      expect(spans.map((s) => s.trained)).toEqual(row.rendered!.pieces.map((p) => p.trained));
      for (const s of spans) expect(s.trained).not.toBe(s.masked);
      // The trained stretches are the assistant replies, each with its end-of-turn marker: nothing else.
      const stretches: string[] = [];
      spans.forEach((s, j) => {
        if (!s.trained) return;
        if (j > 0 && spans[j - 1].trained) stretches[stretches.length - 1] += s.text;
        else stretches.push(s.text);
      });
      const replies = (row.example as { messages: { role: string; content: string; weight?: number }[] }).messages.filter((m) => m.role === 'assistant' && m.weight !== 0);
      expect(stretches).toEqual(replies.map((m) => `${m.content}${END_OF_TURN}`));
      expect(squash(await heads.nth(i).textContent())).toContain(`${row.rendered!.tokens} tokens, ${row.rendered!.trainedTokens} trained`);
    }

    // Trained and masked tokens look different: colour and background.
    const styleOf = async (cls: string) =>
      page
        .getByTestId('token-view')
        .first()
        .locator(`.tok.${cls}`)
        .first()
        .evaluate((el) => {
          const s = (globalThis as unknown as { getComputedStyle(e: unknown): { color: string; backgroundColor: string } }).getComputedStyle(el);
          return { color: s.color, background: s.backgroundColor };
        });
    const trained = await styleOf('trained');
    const masked = await styleOf('masked');
    expect(trained.background).not.toBe(masked.background);
    expect(trained.color).not.toBe(masked.color);
    expect(trained.background).not.toMatch(/^rgba\(0, 0, 0, 0\)$|^transparent$/);

    await page.mouse.move(0, 0);
    await screenshot(page, 'datasets-preview');
    watch.assertClean();
  });

  it('plots the token lengths and the share cut at the max length, as the engine counts them', async () => {
    const stats = page.getByTestId('dataset-stats');
    const histogram = stats.getByTestId('length-histogram');
    await histogram.waitFor({ timeout: 20_000 });
    const at = async (maxLength: number) => {
      const truth = await engineCall<DatasetStats>('datasets.stats', { id: messagesId, model: model.id, template: 'model', maxLength });
      const line = `${formatPercent(truth.truncatedShare)} cut at ${maxLength} tokens (${truth.overLong} over-long rows)`;
      await expect.poll(async () => squash(await stats.locator('.figures').textContent()), { timeout: 20_000 }).toContain(line);
      expect(await histogram.locator('rect').count()).toBe(truth.histogram.bins.length);
      expect(await histogram.locator('rect.over').count()).toBe(truth.histogram.bins.filter((b) => b.from >= maxLength).length);
      expect(squash(await histogram.locator('figcaption').textContent())).toBe(
        `median ${truth.histogram.p50} · 95th percentile ${truth.histogram.p95} · mean ${truth.histogram.mean.toFixed(0)} · max ${truth.histogram.max} tokens`,
      );
      return truth;
    };
    // At 1024 tokens nothing is cut.
    const whole = await at(1024);
    expect(whole.truncatedShare).toBe(0);
    expect(whole.histogram.unit).toBe('tokens');

    // At 48 tokens the longer rows are cut: the share, red bars past the marker, and the rows say so.
    await page.getByTestId('preview-max-length').fill('48');
    await page.getByTestId('preview-max-length').press('Tab');
    const cut = await at(48);
    expect(cut.truncatedShare).toBeGreaterThan(0);
    expect(cut.truncatedShare).toBeLessThan(1);
    expect(cut.overLong).toBe(Math.round(cut.truncatedShare * cut.measured));
    await histogram.locator('line.marker').waitFor({ state: 'attached' });
    expect(await histogram.locator('text.marker-label').textContent()).toBe('max 48');
    const engine = await engineCall<PreviewResult>('datasets.preview', { id: messagesId, limit: 5, model: model.id, template: 'model', maxLength: 48 });
    const truncated = engine.rows.filter((r) => r.rendered!.truncated).length;
    expect(truncated).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('preview-rows').getByText('cut at 48').count(), { timeout: 20_000 }).toBe(truncated);
    await expect.poll(() => page.getByTestId('preview-rows').getByText('✂ cut here').count()).toBe(truncated);

    // The whole page, the user's view of the rows beside the statistics.
    await page.getByTestId('tab-user').click();
    await page.mouse.move(0, 0);
    await screenshot(page, 'datasets');
    watch.assertClean();
  });

  it('deletes a dataset after asking; the files stay', async () => {
    const target = (await datasets()).find((d) => d.name === 'tickets')!;
    await page.getByTestId(`dataset-item-${target.id}`).click();
    const details = page.getByTestId('dataset-details');
    await details.getByRole('heading', { name: 'tickets', exact: true }).waitFor();
    await details.getByTestId('dataset-delete').click();
    await details.getByText('Delete this dataset and all its versions? (Your files stay.)').waitFor();
    // "Keep" backs out.
    await details.getByRole('button', { name: 'Keep' }).click();
    await details.getByTestId('dataset-delete').click();
    await details.getByTestId('dataset-delete-confirm').click();
    await page.getByTestId(`dataset-item-${target.id}`).waitFor({ state: 'detached' });
    expect((await datasets()).map((d) => d.id)).not.toContain(target.id);
    await expect(engineCall<DatasetDetail>('datasets.get', { id: target.id })).rejects.toThrow();
    expect(fs.existsSync(ticketsFile)).toBe(true);
    // Another dataset opens in its place.
    await details.getByRole('heading').first().waitFor();
    expect(await page.getByTestId('dataset-list').locator('li').count()).toBe((await datasets()).length);
    watch.assertClean();
  });
});
