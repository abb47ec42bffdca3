/**
 * What the model is trained on: an example rendered through a chat template into text, token
 * ids, and a labels mask (1 = the token is trained, 0 = masked prompt).
 *
 * Masking works with any template by rendering prefixes (the usual technique): for assistant turn
 * i, the conversation up to the turn with the generation prompt ends where the answer starts, and
 * the conversation through turn i ends after the answer and its end-of-turn marker. The characters
 * in between (less trailing whitespace) are trained: the answer and the end-of-turn token. A
 * character offset becomes a token index by tokenising the text up to it and taking the longest
 * prefix it shares with the full text's ids; a token that straddles a boundary (rare: templates
 * put boundaries after special tokens and newlines) counts as trained at an answer's start and as
 * masked at its end.
 */
import { ChatTemplateError, renderChatTemplate, type ChatMessage } from '../ml/chat-template';
import type { ModelTokenizer } from '../ml/tokenizer';
import { RowError } from './shapes';
import { builtinTemplate, type BuiltinTemplate, type ResolvedTemplate } from './templates';
import { isChat, type Example, type Message } from './types';

/**
 * The template: resolved (resolveTemplate / builtinTemplate), or given as a model's Jinja source
 * (`chatTemplate`, which holds BOS itself) or a built-in's name.
 */
export type TemplateOption = { template: ResolvedTemplate } | { chatTemplate: string } | { builtin: BuiltinTemplate };

export type RenderOptions = {
  tokenizer: ModelTokenizer;
  /** Keep at most this many tokens (the run's max sequence length). */
  maxLength?: number;
} & TemplateOption;

function templateOf(opts: TemplateOption): ResolvedTemplate {
  if ('template' in opts) return opts.template;
  if ('chatTemplate' in opts) return { name: 'model', source: opts.chatTemplate, addSpecialTokens: false };
  return builtinTemplate(opts.builtin);
}

export interface RenderedExample {
  text: string;
  ids: number[];
  /** Per token of `ids`: 1 trained (answer + end-of-turn), 0 masked (prompt, markup). */
  labelsMask: number[];
  /** Tokens before truncation. */
  length: number;
  truncated: boolean;
}

/** The template refused the conversation (role order, unsupported role): a row error. */
export class TemplateRejectedError extends RowError {
  constructor(message: string) {
    super(`the chat template rejects this conversation: ${message.replace(/^chat template failed: /, '')}`);
    this.name = 'TemplateRejectedError';
  }
}

function render(tpl: ResolvedTemplate, tokenizer: ModelTokenizer, messages: readonly Message[], addGenerationPrompt: boolean): string {
  const vars = { bos_token: '', eos_token: '', ...tokenizer.templateVariables() };
  try {
    return renderChatTemplate(tpl.source, messages as readonly ChatMessage[], { addGenerationPrompt, specialTokens: vars });
  } catch (err) {
    if (err instanceof ChatTemplateError) throw new TemplateRejectedError(err.message);
    throw err;
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** [start, end) character spans of the trained text in `full`. */
function trainedSpans(tpl: ResolvedTemplate, tokenizer: ModelTokenizer, messages: Message[], full: string): [number, number][] {
  const spans: [number, number][] = [];
  let cursor = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const before = render(tpl, tokenizer, messages.slice(0, i), true);
    const through = i === messages.length - 1 ? full : render(tpl, tokenizer, messages.slice(0, i + 1), false);
    let start: number;
    let end: number;
    if (full.startsWith(before) && full.startsWith(through) && through.length > before.length) {
      start = before.length;
      end = through.length;
    } else {
      // The template rewrites earlier turns (e.g. drops reasoning): find the answer itself.
      start = full.indexOf(m.content, cursor);
      if (start < 0) throw new TemplateRejectedError(`assistant message ${i + 1} does not appear in the rendered text`);
      end = start + m.content.length;
      const eos = tokenizer.eosToken;
      if (eos && full.startsWith(eos, end)) end += eos.length;
    }
    // The end-of-turn marker is trained; the whitespace the template puts after it is not.
    const at = full.indexOf(m.content, start);
    const contentEnd = at >= 0 && at < end ? at + m.content.length : start;
    while (end > Math.max(start, contentEnd) && /\s/.test(full[end - 1])) end--;
    cursor = end;
    if (m.weight !== 0 && end > start) spans.push([start, end]);
  });
  return spans;
}

/** Token count of the rendered example (what a max length is compared with), without the mask. */
export function measureExample(example: Example, opts: RenderOptions): number {
  const { tokenizer } = opts;
  const template = templateOf(opts);
  if (!isChat(example)) {
    const ids = tokenizer.encode(example.text, { addSpecialTokens: true });
    return ids.length + (tokenizer.eosTokenId !== null && ids[ids.length - 1] !== tokenizer.eosTokenId ? 1 : 0);
  }
  return tokenizer.encode(render(template, tokenizer, example.messages, false), { addSpecialTokens: template.addSpecialTokens }).length;
}

export function renderExample(example: Example, opts: RenderOptions): RenderedExample {
  const { tokenizer } = opts;
  const template = templateOf(opts);
  let text: string;
  let ids: number[];
  let labelsMask: number[];
  if (!isChat(example)) {
    // Plain text: every token is trained; the document ends with EOS so the model learns to stop.
    text = example.text;
    ids = tokenizer.encode(text, { addSpecialTokens: true });
    const eos = tokenizer.eosTokenId;
    if (eos !== null && ids[ids.length - 1] !== eos) {
      ids.push(eos);
      if (tokenizer.eosToken) text += tokenizer.eosToken;
    }
    labelsMask = ids.map((id, i) => (i === 0 && id === tokenizer.bosTokenId ? 0 : 1));
  } else {
    const messages = example.messages;
    text = render(template, tokenizer, messages, false);
    const encode = (s: string) => tokenizer.encode(s, { addSpecialTokens: template.addSpecialTokens });
    ids = encode(text);
    labelsMask = new Array<number>(ids.length).fill(0);
    const tokenAt = (charPos: number) => commonPrefix(encode(text.slice(0, charPos)), ids);
    for (const [s, e] of trainedSpans(template, tokenizer, messages, text)) {
      const from = tokenAt(s);
      const to = e === text.length ? ids.length : tokenAt(e);
      for (let k = from; k < to; k++) labelsMask[k] = 1;
    }
  }
  const length = ids.length;
  const max = opts.maxLength;
  const truncated = max !== undefined && length > max;
  if (truncated) {
    ids = ids.slice(0, max);
    labelsMask = labelsMask.slice(0, max);
  }
  return { text, ids, labelsMask, length, truncated };
}
