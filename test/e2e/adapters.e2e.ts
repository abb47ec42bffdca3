/**
 * The Adapters page in Chromium against the web shell, with tiny-random-llama and tiny-gpt2:
 * importing a real PEFT adapter folder (written here for tiny-random-llama by the engine's
 * safetensors writer, as PEFT lays it out) and being refused, with the engine's reasons, for the
 * sequence-classification GPT-2 adapter; the SVD spectrum (the numbers the engine computed); a
 * resize to a smaller rank and a combination, each a new adapter in the library with its lineage;
 * merged-model and GGUF exports as jobs ending with the engine's verification; a cancelled export
 * leaving nothing; rename, tags, notes, "Try in Playground" and delete with the files.
 * Screenshots: test-results/adapters.png, adapter-detail.png, adapter-spectrum.png,
 * adapter-combine.png, adapter-export.png, adapter-export-running.png, adapter-import-refused.png,
 * adapter-spectrum-dark.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import { writeSafetensors } from '../../src/main/ml/safetensors';
import type { AdapterCheckReport, AdapterDetail, AdapterSpectrumInfo, AdapterSummary, ExportRecord, ModelSummary } from '../../src/shared/contract';
import { formatEnergy as pct } from '../../src/renderer/src/components/adapters/format';
import type { PageGlobals } from './page-types';
import { launchChromium, repoRoot, resultsDir, screenshot, startWebShell, tempDir, watchPage, type WebShell } from './helpers';

const llama = path.resolve(repoRoot, '../shared/fixtures/models/tiny-random-llama');
const gpt2 = path.resolve(repoRoot, '../shared/fixtures/models/tiny-gpt2');
/** A real PEFT adapter for GPT-2 sequence classification: refused for a causal LM. */
const seqclsAdapter = path.resolve(repoRoot, '../shared/fixtures/peft-adapters/gpt2-seqcls-c_attn-r8');

const RANK = 8;
const MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.down_proj'];

/**
 * A PEFT adapter folder for tiny-random-llama (hidden 16, MLP 64, 2 layers), rank 8 on five
 * modules. B's columns shrink geometrically, so ΔW's singular values decay and a resize keeps most
 * of the energy, as in a trained adapter.
 */
function writeLlamaAdapter(dir: string): void {
  let state = 424242;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  };
  const tensors = [];
  for (let layer = 0; layer < 2; layer++) {
    for (const mod of MODULES) {
      const [inF, outF] = mod === 'mlp.down_proj' ? [64, 16] : [16, 16];
      const base = `base_model.model.model.layers.${layer}.${mod}`;
      const a = Float32Array.from({ length: RANK * inF }, () => next() * 0.5);
      // B [out, r]: column k scaled by 0.55^k.
      const b = Float32Array.from({ length: outF * RANK }, (_, i) => next() * 0.55 ** (i % RANK));
      tensors.push({ name: `${base}.lora_A.weight`, dtype: 'F32' as const, shape: [RANK, inF], data: a });
      tensors.push({ name: `${base}.lora_B.weight`, dtype: 'F32' as const, shape: [outF, RANK], data: b });
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  fs.writeFileSync(
    path.join(dir, 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: RANK,
      lora_alpha: 16,
      lora_dropout: 0,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'],
      bias: 'none',
      fan_in_fan_out: false,
      base_model_name_or_path: 'trl-internal-testing/tiny-random-LlamaForCausalLM',
    }),
  );
}


describe('adapters page in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let llamaModel: ModelSummary;
  let gpt2Model: ModelSummary;
  let srcDir: string;
  let imported: AdapterSummary;
  let resized: AdapterSummary;

  const engineCall = <T>(name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' }) as Promise<T>;
  const job = (kind: string, status: string) => page.locator(`[data-testid^="export-job-"][data-kind="${kind}"][data-status="${status}"]`);

  beforeAll(async () => {
    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    llamaModel = await engineCall<ModelSummary>('models.add', { path: llama });
    gpt2Model = await engineCall<ModelSummary>('models.add', { path: gpt2 });
    srcDir = path.join(tempDir('e2e-peft'), 'tiny-llama-lora-r8');
    writeLlamaAdapter(srcDir);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
    if (srcDir) fs.rmSync(path.dirname(srcDir), { recursive: true, force: true });
  });

  it('starts empty, explaining where adapters come from', async () => {
    await page.goto(shell.server.url);
    await page.getByTestId('nav-adapters').click();
    await page.getByRole('heading', { level: 1, name: 'Adapters' }).waitFor();
    await page.getByTestId('adapters-empty').waitFor();
    // With an empty library the import form is open from the start.
    await page.getByTestId('adapter-import').waitFor();
    watch.assertClean();
  });

  it('refuses the GPT-2 classification adapter for tiny-gpt2 with the engine’s reasons, storing nothing', async () => {
    const report = await engineCall<AdapterCheckReport>('adapters.check', { dir: seqclsAdapter, model: gpt2Model.id });
    expect(report.ok).toBe(false);
    await page.getByTestId('adapter-import-path').fill(seqclsAdapter);
    await page.getByTestId('adapter-import-model').selectOption(String(gpt2Model.id));
    await page.getByTestId('adapter-import-submit').click();
    const refusal = page.getByTestId('adapter-import-refusal');
    await refusal.waitFor();
    const text = await refusal.innerText();
    expect(text).toContain('cannot be used with tiny-gpt2');
    for (const p of report.problems) expect(text).toContain(p);
    expect(text).toMatch(/modules_to_save/);
    expect(text).toMatch(/classification task/);
    await screenshot(page, 'adapter-import-refused');
    expect(await engineCall<AdapterSummary[]>('adapters.list', {})).toHaveLength(0);
    watch.assertClean();
  });

  it('imports the PEFT folder for tiny-random-llama and opens the adapter with its details and lineage', async () => {
    await page.getByTestId('adapter-import-path').fill(srcDir);
    // Editing the form clears the refusal.
    await expect.poll(() => page.getByTestId('adapter-import-refusal').count()).toBe(0);
    await page.getByTestId('adapter-import-model').selectOption(String(llamaModel.id));
    await page.getByTestId('adapter-import-submit').click();
    await page.getByTestId('adapter-header').waitFor();
    const list = await engineCall<AdapterSummary[]>('adapters.list', {});
    expect(list).toHaveLength(1);
    imported = list[0];
    expect(imported).toMatchObject({ name: 'tiny-llama-lora-r8', source: 'import', rank: RANK, alpha: 16, baseModelId: llamaModel.id });
    expect(page.url()).toContain(`adapter=${imported.id}`);
    await expect.poll(() => page.getByTestId('adapter-name').innerText()).toBe('tiny-llama-lora-r8');
    await expect.poll(() => page.getByTestId('fact-rank').innerText()).toBe(String(RANK));
    const facts = await page.getByTestId('adapter-facts').innerText();
    for (const t of imported.targets) expect(facts).toContain(t);
    await expect.poll(() => page.getByTestId('adapter-facts').innerText()).toContain('10 linear layers');
    await expect.poll(() => page.getByTestId('lineage-base').innerText()).toBe('tiny-random-llama');
    expect(await page.getByTestId('adapter-path').getByTestId('path-text').innerText()).toBe(imported.path);
    await page.getByTestId('adapter-notes').waitFor();
    await screenshot(page, 'adapter-detail');
    watch.assertClean();
  });

  it('renames, tags and annotates the adapter', async () => {
    await page.getByTestId('adapter-rename').click();
    await page.getByTestId('adapter-rename-input').fill('tiny llama r8');
    await page.getByTestId('adapter-rename-input').press('Enter');
    await expect.poll(() => page.getByTestId('adapter-name').innerText()).toBe('tiny llama r8');
    await page.getByTestId('adapter-tag-input').fill('baseline');
    await page.getByTestId('adapter-tag-input').press('Enter');
    await page.getByTestId('adapter-tag-baseline').waitFor();
    await page.getByTestId('adapter-notes-text').fill('Random weights with a decaying spectrum.');
    await page.getByTestId('adapter-notes-save').click();
    await expect.poll(async () => (await engineCall<AdapterDetail>('adapters.get', { id: imported.id })).notes).toBe('Random weights with a decaying spectrum.');
    const d = await engineCall<AdapterDetail>('adapters.get', { id: imported.id });
    expect(d.name).toBe('tiny llama r8');
    expect(d.tags).toEqual(['baseline']);
    imported = d;
    watch.assertClean();
  });

  it('plots the SVD spectrum per module with the engine’s effective rank', async () => {
    const svd = await engineCall<AdapterSpectrumInfo>('adapters.svd', { id: imported.id });
    // The tabs follow the arrow keys.
    await page.getByTestId('adapter-tab-overview').focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.url()).toContain('tab=spectrum');
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as PageGlobals).document.activeElement?.getAttribute('data-testid') ?? null)).toBe('adapter-tab-spectrum');
    await expect.poll(() => page.getByTestId('spectrum-effective-rank').innerText()).toContain(svd.meanEffectiveRank.toFixed(2));
    // Layer 0's five modules are plotted, each with its eight singular values.
    await expect.poll(() => page.getByTestId('spectrum-chart').getAttribute('data-lines')).toBe('5');
    await expect.poll(() => page.getByTestId('spectrum-chart').getAttribute('data-points')).toBe(String(RANK));
    // The energy view adds the mean over all modules.
    await page.getByTestId('spectrum-mode-energy').check();
    await expect.poll(() => page.getByTestId('energy-chart').getAttribute('data-lines')).toBe('6');
    await page.getByTestId('spectrum-mode-sigma').check();
    await expect.poll(() => page.getByTestId('spectrum-chart').getAttribute('data-lines')).toBe('5');
    const rows = page.getByTestId('spectrum-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(svd.modules.length);
    const q0 = svd.modules.find((m) => m.module.endsWith('layers.0.self_attn.q_proj'))!;
    const q0Row = await page.locator(`tr[data-module="${q0.module}"]`).innerText();
    expect(q0Row).toContain(q0.effectiveRank.toFixed(2));
    expect(q0Row).toContain(`${q0.rank90} · ${q0.rank99}`);
    await screenshot(page, 'adapter-spectrum');
    watch.assertClean();
  });

  it('resizes to rank 3, showing the energy kept per module, as a new adapter whose parent is this one', async () => {
    const svd = await engineCall<AdapterSpectrumInfo>('adapters.svd', { id: imported.id });
    await page.getByTestId('resize-rank').fill('3');
    await page.getByTestId('resize-rank').press('Tab');
    const meanAt3 = svd.modules.reduce((a, m) => a + m.energy[2], 0) / svd.modules.length;
    await expect.poll(() => page.getByTestId('resize-preview').innerText()).toContain(`keep ${pct(meanAt3)}`);
    await page.getByTestId('resize-submit').click();
    await page.getByTestId('resize-result').waitFor();
    const list = await engineCall<AdapterSummary[]>('adapters.list', {});
    resized = list.find((a) => a.source === 'resize')!;
    expect(resized).toMatchObject({ rank: 3, parentAdapterId: imported.id, baseModelId: llamaModel.id, name: 'tiny llama r8 r3' });
    const result = await page.getByTestId('resize-result').innerText();
    expect(result).toContain('tiny llama r8 r3');
    expect(result).toContain(pct(meanAt3));
    for (const m of svd.modules) expect(result).toContain(pct(m.energy[2]));
    // Its page shows the lineage back to this adapter.
    await page.getByTestId('resize-result-link').click();
    await expect.poll(() => page.getByTestId('adapter-name').innerText()).toBe('tiny llama r8 r3');
    await expect.poll(() => page.getByTestId('lineage-parent').innerText()).toBe('tiny llama r8');
    await page.getByTestId('lineage-parent').click();
    await page.getByTestId(`lineage-child-${resized.id}`).waitFor();
    watch.assertClean();
  });

  it('combines the adapter with its resized copy by weights', async () => {
    await page.getByTestId('adapter-tab-combine').click();
    await page.getByTestId(`combine-pick-${resized.id}`).check();
    await page.getByTestId(`combine-weight-${resized.id}`).fill('0.5');
    await page.getByTestId('combine-submit').click();
    await page.getByTestId('combine-result').waitFor();
    const combined = (await engineCall<AdapterSummary[]>('adapters.list', {})).find((a) => a.source === 'combine')!;
    expect(combined).toMatchObject({ rank: RANK + 3, parentAdapterId: imported.id, baseModelId: llamaModel.id });
    expect(await page.getByTestId('combine-result').innerText()).toContain(`rank ${RANK + 3}`);
    await screenshot(page, 'adapter-combine');
    watch.assertClean();
  });

  it('exports a merged model and a GGUF as jobs that end with the engine’s verification', async () => {
    await page.getByTestId('adapter-tab-export').click();
    await page.getByTestId('export-jobs').getByText('Nothing exported yet').waitFor();

    // A cancelled export leaves nothing behind.
    await page.getByTestId('export-dtype').selectOption('f32');
    const cancelledOut = await page.getByTestId('export-out-merged').inputValue();
    expect(cancelledOut).toBe(path.join(shell.dataDir, 'exports', 'tiny-llama-r8-merged-f32'));
    await page.getByTestId('export-start-merged').click();
    const running = job('merged', 'running');
    await running.waitFor();
    await running.getByRole('progressbar').waitFor();
    await running.screenshot({ path: path.join(resultsDir, 'adapter-export-running.png') });
    await running.getByRole('button', { name: 'Cancel' }).click();
    await job('merged', 'cancelled').waitFor({ timeout: 60_000 });
    expect(await job('merged', 'cancelled').getByTestId('export-error').innerText()).toMatch(/cancelled/i);
    expect(fs.existsSync(cancelledOut)).toBe(false);

    // The merged model: written, reloaded and its logits compared with base + adapter.
    await page.getByTestId('export-dtype').selectOption('auto');
    const mergedOut = await page.getByTestId('export-out-merged').inputValue();
    await page.getByTestId('export-start-merged').click();
    await job('merged', 'completed').waitFor({ timeout: 90_000 });
    const merged = (await engineCall<ExportRecord[]>('exports.list', { adapterId: imported.id })).find((r) => r.kind === 'merged' && r.status === 'completed')!;
    const check = (merged.result as { verification: { passed: boolean; maxAbsDiff: number; prompts: number } }).verification;
    expect(check.passed).toBe(true);
    expect(merged.path).toBe(mergedOut);
    expect(fs.existsSync(path.join(mergedOut, 'model.safetensors'))).toBe(true);
    const mergedCard = job('merged', 'completed');
    const verification = await mergedCard.getByTestId('export-verification').innerText();
    expect(verification).toContain('Verified: the merged model gives the same logits as base + adapter');
    expect(verification).toContain(`${check.prompts} prompts`);
    expect(verification).toContain(check.maxAbsDiff === 0 ? '0' : check.maxAbsDiff.toExponential(1));
    expect(await mergedCard.getByTestId('export-path').getByTestId('path-text').innerText()).toBe(mergedOut);

    // GGUF Q8_0 with an Ollama Modelfile, re-read after writing.
    await page.getByTestId('export-gguf-type').selectOption('q8_0');
    await page.getByTestId('export-modelfile').check();
    const ggufOut = await page.getByTestId('export-out-gguf').inputValue();
    expect(ggufOut.endsWith('tiny-llama-r8-q8_0.gguf')).toBe(true);
    await page.getByTestId('export-start-gguf').click();
    await job('gguf', 'completed').waitFor({ timeout: 90_000 });
    const ggufRec = (await engineCall<ExportRecord[]>('exports.list', { adapterId: imported.id })).find((r) => r.kind === 'gguf')!;
    const gguf = ggufRec.result as { validation: { metadataKeys: number; tensorsChecked: number }; tensorTypes: Record<string, number> };
    const ggufText = await job('gguf', 'completed').getByTestId('export-verification').innerText();
    expect(ggufText).toContain('reads back exactly as written');
    expect(ggufText).toContain(`${gguf.validation.metadataKeys} metadata keys and ${gguf.validation.tensorsChecked} tensors`);
    expect(ggufText).toContain(`${gguf.tensorTypes.Q8_0} Q8_0`);
    expect(await job('gguf', 'completed').getByTestId('export-modelfile-note').innerText()).toContain('Modelfile');
    expect(fs.existsSync(ggufOut)).toBe(true);
    expect(fs.existsSync(path.join(path.dirname(ggufOut), 'Modelfile'))).toBe(true);

    await page.mouse.move(0, 0);
    await screenshot(page, 'adapter-export');
    watch.assertClean();
  });

  it('finds the finished exports again after a reload', async () => {
    await page.reload();
    await job('gguf', 'completed').waitFor();
    await job('merged', 'completed').waitFor();
    await job('merged', 'cancelled').waitFor();
    watch.assertClean();
  });

  it('lists the library with the lineage sources and filters it by tag', async () => {
    await page.getByTestId('adapter-back').click();
    await page.getByTestId('adapter-table').waitFor();
    await expect.poll(() => page.getByTestId('adapter-table').locator('tbody tr').count()).toBe(3);
    const row = await page.getByTestId(`adapter-row-${imported.id}`).innerText();
    expect(row).toContain('tiny llama r8');
    expect(row).toContain('baseline');
    expect(row).toContain('tiny-random-llama');
    expect(row).toContain(`${RANK} / 16`);
    expect(row).toContain('all layers');
    await page.mouse.move(0, 0);
    await screenshot(page, 'adapters');
    await page.getByTestId('adapter-tag-filter').selectOption('baseline');
    await expect.poll(() => page.getByTestId('adapter-table').locator('tbody tr').count()).toBe(1);
    await page.getByTestId('adapter-tag-filter').selectOption('');
    watch.assertClean();
  });

  it('opens the adapter beside its base model in the Playground', async () => {
    await page.getByTestId(`adapter-link-${imported.id}`).click();
    await page.getByTestId('adapter-try').click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    await expect.poll(() => page.getByTestId('pg-model').inputValue()).toBe(String(llamaModel.id));
    await page.getByTestId(`contender-adapter:${imported.id}`).waitFor();
    watch.assertClean();
  });

  it('deletes an adapter with its files after asking', async () => {
    await page.goto(`${shell.server.url}#/adapters?adapter=${resized.id}`);
    await expect.poll(() => page.getByTestId('adapter-name').innerText()).toBe('tiny llama r8 r3');
    expect(fs.existsSync(resized.path)).toBe(true);
    await page.getByTestId('adapter-delete').click();
    const dialog = page.getByTestId('adapter-delete-dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toContain(resized.path);
    // The safe choice has the focus: Escape closes without deleting.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(fs.existsSync(resized.path)).toBe(true);
    await page.getByTestId('adapter-delete').click();
    await page.getByTestId('adapter-delete-confirm').click();
    await page.getByTestId('adapter-table').waitFor();
    await expect.poll(() => page.getByTestId(`adapter-row-${resized.id}`).count()).toBe(0);
    expect(fs.existsSync(resized.path)).toBe(false);
    expect((await engineCall<AdapterSummary[]>('adapters.list', {})).map((a) => a.id)).not.toContain(resized.id);
    watch.assertClean();
  });

  it('says so when the open adapter is deleted elsewhere', async () => {
    const combined = (await engineCall<AdapterSummary[]>('adapters.list', {})).find((a) => a.source === 'combine')!;
    await page.goto(`${shell.server.url}#/adapters?adapter=${combined.id}`);
    await page.getByTestId('adapter-header').waitFor();
    await engineCall('adapters.delete', { id: combined.id });
    await page.getByTestId('adapter-missing').waitFor();
    watch.assertClean();
  });

  it('reads well in the dark theme', async () => {
    await engineCall('settings.update', { theme: 'dark' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    await page.goto(`${shell.server.url}#/adapters?adapter=${imported.id}&tab=spectrum`);
    await expect.poll(() => page.getByTestId('spectrum-chart').getAttribute('data-points')).toBe(String(RANK));
    await page.mouse.move(0, 0);
    await screenshot(page, 'adapter-spectrum-dark');
    watch.assertClean();
  });
});
