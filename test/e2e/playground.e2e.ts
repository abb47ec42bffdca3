/**
 * The Playground in Chromium against the web shell, with tiny-random-llama: the base model's answer
 * streams in token by token and ends equal to what the engine generated; an adapter written here for
 * that model answers beside it (differently), an adapter made for another model fails in its own
 * column with the engine's reason; Cancel stops a long answer and drops the queued ones; a bad
 * sampling value blocks Generate. Screenshots: test-results/playground.png, playground-dark.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { createHandlers, dispatchCall, type Handlers } from '../../src/main/handlers';
import { writeSafetensors } from '../../src/main/ml/safetensors';
import type { EventPayload, ModelSummary } from '../../src/shared/contract';
import { launchChromium, repoRoot, screenshot, startWebShell, tempDir, watchPage, type WebShell } from './helpers';

const llama = path.resolve(repoRoot, '../shared/fixtures/models/tiny-random-llama');
/** A real PEFT adapter, but for Llama-3.2-1B: its shapes do not fit tiny-random-llama. */
const foreignAdapter = path.resolve(repoRoot, '../shared/fixtures/peft-adapters/llama3.2-1b-q_v-r8');

/**
 * A PEFT adapter for tiny-random-llama (hidden 16, 2 layers) on q_proj and v_proj, rank 4, with
 * deterministic weights large enough to change the greedy answer.
 */
function writeTinyAdapter(dir: string): void {
  const r = 4;
  const hidden = 16;
  let state = 12345;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  };
  const filled = (n: number) => Float32Array.from({ length: n }, () => next());
  const tensors = [];
  for (let layer = 0; layer < 2; layer++) {
    for (const mod of ['q_proj', 'v_proj']) {
      const base = `base_model.model.model.layers.${layer}.self_attn.${mod}`;
      tensors.push({ name: `${base}.lora_A.weight`, dtype: 'F32' as const, shape: [r, hidden], data: filled(r * hidden) });
      tensors.push({ name: `${base}.lora_B.weight`, dtype: 'F32' as const, shape: [hidden, r], data: filled(hidden * r) });
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  fs.writeFileSync(
    path.join(dir, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: 16, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'], bias: 'none', base_model_name_or_path: llama }),
  );
}

/** tiny-random-llama with a chat template beside it (its files linked, not copied). */
function chatModelFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(llama)) fs.symlinkSync(path.join(llama, f), path.join(dir, f));
  fs.writeFileSync(
    path.join(dir, 'chat_template.jinja'),
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
  );
}

type Done = EventPayload<'generate.done'>;

describe('playground in Chromium', () => {
  let shell: WebShell;
  let handlers: Handlers;
  let browser: Browser;
  let page: Page;
  let watch: ReturnType<typeof watchPage>;
  let model: ModelSummary;
  let adapterDir: string;
  let chatDir: string;
  const done: Done[] = [];
  let tokenEvents = 0;

  const engineCall = <T>(name: string, args: unknown = {}) => dispatchCall(handlers, name, args, { via: 'cli' }) as Promise<T>;
  const output = (key: string) => page.getByTestId(`output-${key}`);
  const finished = (key: string) => page.locator(`[data-testid="output-${key}"]:is([data-status="done"], [data-status="cancelled"], [data-status="failed"])`);

  async function addAdapter(dir: string): Promise<void> {
    await page.getByTestId('adapter-path').fill(dir);
    await page.getByTestId('adapter-add').click();
    await page.getByTestId(`contender-adapter:${dir}`).waitFor();
  }

  beforeAll(async () => {
    shell = await startWebShell();
    handlers = createHandlers(shell.engine);
    shell.engine.events.on('generate.done', (ev) => done.push(ev));
    shell.engine.events.on('generate.token', () => tokenEvents++);
    // This suite is about a model without a chat template: the bundled starter model (which has
    // one, and is registered on first start) leaves the library so the page picks ours.
    for (const m of await engineCall<ModelSummary[]>('models.list')) {
      if (m.source === 'starter') await engineCall('models.remove', { id: m.id });
    }
    model = await engineCall<ModelSummary>('models.add', { path: llama });
    adapterDir = path.join(tempDir('e2e-adapter'), 'tiny-llama-qv-r4');
    writeTinyAdapter(adapterDir);
    chatDir = path.join(tempDir('e2e-chat-model'), 'tiny-llama-chat');
    chatModelFolder(chatDir);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = watchPage(page);
  });

  afterAll(async () => {
    await browser?.close();
    await shell?.close();
    for (const d of [adapterDir, chatDir]) if (d) fs.rmSync(path.dirname(d), { recursive: true, force: true });
  });

  it('streams the base model’s answer token by token and ends with exactly the engine’s text', async () => {
    await page.goto(`${shell.server.url}`);
    await page.getByTestId('nav-playground').click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    // The only model is picked; it has no chat template, so chat is off.
    await expect.poll(() => page.getByTestId('pg-model').inputValue()).toBe(String(model.id));
    await expect.poll(() => page.getByTestId('pg-mode-chat').isDisabled()).toBe(true);

    await page.getByTestId('pg-prompt').fill('Once upon a time');
    await page.getByTestId('max-new-tokens').fill('48');
    // Record every state the answer passes through, in the page itself (faster than polling from here).
    await page.evaluate(() => {
      const g = globalThis as unknown as {
        document: { querySelector(s: string): unknown };
        MutationObserver: new (cb: () => void) => { observe(target: unknown, opts: object): void };
        seen: string[];
      };
      g.seen = [];
      const box = g.document.querySelector('[data-testid="output-base"]') as { querySelector(s: string): { textContent: string | null } | null };
      new g.MutationObserver(() => {
        const t = box.querySelector('[data-testid="output-text"]')?.textContent ?? '';
        if (t && g.seen[g.seen.length - 1] !== t) g.seen.push(t);
      }).observe(box, { subtree: true, childList: true, characterData: true });
    });
    const before = done.length;
    await page.getByTestId('pg-generate').click();
    await finished('base').waitFor({ timeout: 60_000 });
    expect(await output('base').getAttribute('data-status')).toBe('done');

    const outcome = done[before];
    expect(outcome.error).toBeUndefined();
    expect(outcome.generatedIds.length).toBeGreaterThan(1);
    const shown = await output('base').getByTestId('output-text').textContent();
    expect(shown).toBe(outcome.text);
    // Streamed: the text grew through many states, each a prefix of the next, before the final one.
    const seen = await page.evaluate(() => (globalThis as unknown as { seen: string[] }).seen);
    expect(seen.length).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i].startsWith(seen[i - 1])).toBe(true);
    expect(tokenEvents).toBeGreaterThanOrEqual(outcome.generatedIds.length);

    const stats = output('base');
    expect(await stats.getByTestId('stat-tokens').textContent()).toBe(String(outcome.generatedIds.length));
    expect(await stats.getByTestId('stat-finish').textContent()).toBe(outcome.finishReason === 'length' ? 'max new tokens' : 'end of text');
    expect(await stats.getByTestId('stat-speed').textContent()).toMatch(/^\s*[\d.]+ tok\/s\s*$/);
    expect(await stats.getByTestId('stat-backend').getAttribute('data-backend')).toBe(outcome.backend);
    watch.assertClean();
  });

  it('compares adapters side by side; one made for another model fails in its own column with the reason', async () => {
    await addAdapter(adapterDir);
    await addAdapter(foreignAdapter);
    const before = done.length;
    await page.getByTestId('pg-generate').click();
    const good = `adapter:${adapterDir}`;
    const bad = `adapter:${foreignAdapter}`;
    for (const key of ['base', good, bad]) await finished(key).waitFor({ timeout: 60_000 });
    expect(await output('base').getAttribute('data-status')).toBe('done');
    expect(await output(good).getAttribute('data-status')).toBe('done');
    expect(await output(bad).getAttribute('data-status')).toBe('failed');

    // Run in column order; each column shows its own request's text.
    const [base, adapted, failed] = done.slice(before);
    expect(await output('base').getByTestId('output-text').textContent()).toBe(base.text);
    expect(await output(good).getByTestId('output-text').textContent()).toBe(adapted.text);
    expect(adapted.text).not.toBe(base.text);
    expect(failed.error).toBeTruthy();
    const errorText = await output(bad).getByTestId('output-error').textContent();
    expect(errorText).toContain(failed.error!);
    expect(errorText).toContain('Pick an adapter trained on this base model');
    await page.mouse.move(0, 0);
    await screenshot(page, 'playground');
    watch.assertClean();
  });

  it('cancel stops the running answer and drops the queued ones', async () => {
    await page.getByTestId('max-new-tokens').fill('1500');
    await page.getByTestId('pg-generate').click();
    // Wait until the base answer is visibly streaming, then cancel.
    await expect.poll(async () => ((await output('base').getByTestId('output-text').textContent()) ?? '').length, { timeout: 60_000 }).toBeGreaterThan(10);
    await page.getByTestId('pg-cancel').click();
    for (const key of ['base', `adapter:${adapterDir}`, `adapter:${foreignAdapter}`]) {
      await finished(key).waitFor({ timeout: 60_000 });
      expect(await output(key).getAttribute('data-status')).toBe('cancelled');
    }
    expect(await output('base').getByTestId('stat-finish').textContent()).toBe('cancelled');
    const tokens = Number(await output('base').getByTestId('stat-tokens').textContent());
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThan(1500);
    await expect.poll(() => page.getByTestId('pg-generate').isEnabled()).toBe(true);
    watch.assertClean();
  });

  it('a sampling value out of range says so and blocks Generate until fixed', async () => {
    await page.getByTestId('max-new-tokens').fill('16');
    await page.getByTestId('temperature').fill('9');
    await page.getByText('Must be at most 5').waitFor();
    expect(await page.getByTestId('pg-generate').isDisabled()).toBe(true);
    await page.getByText('Fix the sampling setting marked in red.').waitFor();
    await page.getByTestId('temperature').fill('0.8');
    await expect.poll(() => page.getByTestId('pg-generate').isEnabled()).toBe(true);
    await page.getByTestId('temperature').fill('0');
    watch.assertClean();
  });

  it('chat mode sends a conversation in the model’s own template', async () => {
    const chatModel = await engineCall<ModelSummary>('models.add', { path: chatDir, name: 'tiny-llama-chat' });
    for (const key of [`adapter:${adapterDir}`, `adapter:${foreignAdapter}`]) {
      await page.getByTestId(`contender-${key}`).getByRole('button').click();
    }
    await page.getByTestId('pg-model').selectOption(String(chatModel.id));
    await expect.poll(() => page.getByTestId('pg-mode-chat').isEnabled()).toBe(true);
    await page.getByTestId('pg-mode-chat').check();
    await page.getByLabel('System message').fill('Answer briefly.');
    await page.getByTestId('pg-prompt').fill('What is LoRA?');
    const before = done.length;
    await page.getByTestId('pg-generate').click();
    await finished('base').waitFor({ timeout: 60_000 });
    expect(await output('base').getAttribute('data-status')).toBe('done');
    const outcome = done[before];
    expect(outcome.promptText).toBe('<|system|>\nAnswer briefly.\n<|user|>\nWhat is LoRA?\n<|assistant|>\n');
    expect(await output('base').getByTestId('output-text').textContent()).toBe(outcome.text);
    watch.assertClean();
  });

  it('reads well in the dark theme', async () => {
    await engineCall('settings.update', { theme: 'dark' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    await screenshot(page, 'playground-dark');
    await engineCall('settings.update', { theme: 'light' });
    watch.assertClean();
  });
});
