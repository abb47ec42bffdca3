/**
 * Rendering conversations with a model's own chat template (Jinja, via @huggingface/jinja), the
 * way transformers' `apply_chat_template(..., tokenize=False)` does. The dataset code renders
 * training examples with the same function, so training and inference see identical text.
 *
 * The rendered text already contains the template's special tokens (BOS, turn markers): encode it
 * with `addSpecialTokens: false`.
 */
import { Template } from '@huggingface/jinja';
import type { ModelTokenizer } from './tokenizer';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface RenderOptions {
  /** Append the marker that opens the assistant's turn (for generation; false for training text). */
  addGenerationPrompt?: boolean;
  /** Special tokens (bos_token, eos_token, ...) the template may read. */
  specialTokens?: Record<string, string>;
  /** Any other variables a template reads (tools, date_string, ...). */
  extra?: Record<string, unknown>;
}

export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`chat template does not parse: ${(err as Error).message}`);
    }
    compiled.set(source, t);
  }
  return t;
}

/** Renders `messages` with the Jinja `template`. Template errors (raise_exception included) become ChatTemplateError. */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
  const t = compile(template);
  try {
    return t.render({
      ...opts.specialTokens,
      ...opts.extra,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    });
  } catch (err) {
    throw new ChatTemplateError(`chat template failed: ${(err as Error).message}`);
  }
}

/** Renders with the tokenizer's own template and special tokens; errors if the model has none. */
export function applyChatTemplate(
  tokenizer: ModelTokenizer,
  messages: readonly ChatMessage[],
  opts: Omit<RenderOptions, 'specialTokens'> = {},
): string {
  if (!tokenizer.chatTemplate) {
    throw new ChatTemplateError('this model has no chat template (no chat_template in tokenizer_config.json or chat_template.jinja)');
  }
  return renderChatTemplate(tokenizer.chatTemplate, messages, { ...opts, specialTokens: tokenizer.templateVariables() });
}
