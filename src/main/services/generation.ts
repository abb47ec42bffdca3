/**
 * Generation for the playground and `lora-studio generate`. One model folder stays loaded (the
 * last one used); an adapter is attached for a request and detached after it, so the base model
 * and any number of adapters share one copy of the base weights. Requests run one at a time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { GenerateOutcome } from '../../shared/contract';
import type { GenerateParams } from '../../shared/contract/generate';
import type { z } from 'zod';
import type { Engine } from '../engine';
import { NotFoundError, UserError, errorMessage } from '../errors';
import { generate } from '../ml/generate';
import { applyChatTemplate } from '../ml/chat-template';
import { loadModelFolder, type LoadedModelFolder } from '../ml/loader';
import { loadPeftAdapter } from '../ml/lora/peft';
import { ensureBackend } from './compute';
import { ModelsService } from './models';

type Params = z.output<typeof GenerateParams>;

export class GenerationService {
  private loaded: { dir: string; folder: LoadedModelFolder } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private running = new Map<string, AbortController>();
  private models: ModelsService;

  constructor(private engine: Engine) {
    this.models = new ModelsService(engine);
    engine.onClose(() => this.unload());
  }

  /** Queue a request; resolves when it is done. `onToken` streams text as it becomes final. */
  run(params: Params, requestId = crypto.randomUUID(), onToken?: (tokenId: number | null, text: string) => void): Promise<GenerateOutcome> {
    const controller = new AbortController();
    this.running.set(requestId, controller);
    const job = this.queue.then(() => this.runNow(params, requestId, controller.signal, onToken));
    this.queue = job.catch(() => undefined);
    return job.finally(() => this.running.delete(requestId));
  }

  /** Start a request whose tokens and end go out as events; returns its id at once. */
  start(params: Params): { requestId: string } {
    const requestId = crypto.randomUUID();
    this.run(params, requestId, (tokenId, text) => this.engine.events.emit('generate.token', { requestId, tokenId, text })).then(
      (outcome) => this.engine.events.emit('generate.done', outcome),
      (err: unknown) => this.engine.events.emit('generate.done', { ...abortedOutcome(requestId, ''), error: errorMessage(err) }),
    );
    return { requestId };
  }

  cancel(requestId: string): boolean {
    const c = this.running.get(requestId);
    c?.abort();
    return c !== undefined;
  }

  unload(): void {
    this.loaded?.folder.model.weights.dispose?.();
    this.loaded = null;
  }

  private folderFor(dir: string): LoadedModelFolder {
    if (this.loaded?.dir === dir) return this.loaded.folder;
    this.unload();
    try {
      this.loaded = { dir, folder: loadModelFolder(dir) };
    } catch (err) {
      throw new UserError(errorMessage(err));
    }
    return this.loaded.folder;
  }

  private adapterDir(ref: number | string): string {
    if (typeof ref === 'number' || /^\d+$/.test(ref)) {
      const row = this.engine.db.prepare<[number], { path: string }>('SELECT path FROM adapters WHERE id = ?').get(Number(ref));
      if (!row) throw new NotFoundError(`no adapter with id ${ref} (see \`lora-studio adapters list\`)`);
      return row.path;
    }
    const dir = path.resolve(ref);
    if (!fs.existsSync(dir)) throw new UserError(`${dir}: no such adapter folder`);
    return dir;
  }

  private async runNow(p: Params, requestId: string, signal: AbortSignal, onToken?: (tokenId: number | null, text: string) => void): Promise<GenerateOutcome> {
    if (signal.aborted) return abortedOutcome(requestId, '');
    const backend = await ensureBackend(this.engine);
    const { dir } = this.models.resolve(p.model);
    const { model, tokenizer, generationConfig } = this.folderFor(dir);

    let promptText: string;
    let promptIds: number[];
    if (p.promptIds) {
      promptIds = p.promptIds;
      const tooBig = promptIds.find((id) => id >= model.dims.vocabSize);
      if (tooBig !== undefined) throw new UserError(`prompt id ${tooBig} is outside the vocabulary (size ${model.dims.vocabSize})`);
      promptText = tokenizer.decode(promptIds);
    } else if (p.messages) {
      try {
        promptText = applyChatTemplate(tokenizer, p.messages, { addGenerationPrompt: true });
      } catch (err) {
        throw new UserError(errorMessage(err));
      }
      // The template already wrote BOS where the model wants it.
      promptIds = tokenizer.encode(promptText, { addSpecialTokens: false });
    } else {
      promptText = p.prompt ?? '';
      promptIds = tokenizer.encode(promptText);
    }
    if (promptIds.length === 0) throw new UserError('the prompt is empty after tokenization');
    if (promptIds.length + p.maxNewTokens > model.dims.maxPositions) {
      throw new UserError(`prompt (${promptIds.length} tokens) + max new tokens (${p.maxNewTokens}) exceeds the model's context of ${model.dims.maxPositions}`);
    }

    const adapter = p.adapter != null ? loadAdapter(this.adapterDir(p.adapter), model) : null;
    try {
      const result = await generate(model, [promptIds], {
        maxNewTokens: p.maxNewTokens,
        temperature: p.temperature,
        topK: p.topK,
        topP: p.topP,
        repetitionPenalty: p.repetitionPenalty,
        seed: p.seed,
        eosTokenIds: generationConfig.eosTokenIds,
        padTokenId: generationConfig.padTokenId ?? undefined,
        stopStrings: p.stop,
        tokenizer,
        signal,
        onToken: onToken ? (ev) => onToken(ev.tokenId, ev.text) : undefined,
      });
      const generated = result.tokens[0];
      return {
        requestId,
        promptIds,
        generatedIds: generated,
        text: result.texts[0] ?? '',
        promptText,
        finishReason: result.finishReasons[0],
        prefillTokensPerSecond: result.prefillMs > 0 ? (promptIds.length * 1000) / result.prefillMs : 0,
        decodeTokensPerSecond: result.decodeMs > 0 ? (result.decodeSteps * 1000) / result.decodeMs : 0,
        backend,
      };
    } finally {
      adapter?.detach();
    }
  }
}

function loadAdapter(dir: string, model: Parameters<typeof loadPeftAdapter>[1]) {
  try {
    return loadPeftAdapter(dir, model);
  } catch (err) {
    throw new UserError(errorMessage(err));
  }
}

function abortedOutcome(requestId: string, backend: string): GenerateOutcome {
  return {
    requestId,
    promptIds: [],
    generatedIds: [],
    text: '',
    promptText: '',
    finishReason: 'aborted',
    prefillTokensPerSecond: 0,
    decodeTokensPerSecond: 0,
    backend,
  };
}
