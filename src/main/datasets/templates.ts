/**
 * Which chat template renders a dataset: the model's own (tokenizer_config.json's chat_template or
 * chat_template.jinja), or a built-in one for models without any. The built-ins are Jinja too, so
 * every template goes through the same renderer, and the chosen source text is what a run records
 * and an export writes into the GGUF / Modelfile.
 */
import type { ModelTokenizer } from '../ml/tokenizer';

export const BUILTIN_TEMPLATES = ['chatml', 'alpaca', 'plain'] as const;
export type BuiltinTemplate = (typeof BUILTIN_TEMPLATES)[number];
/** What the user picks: the model's template (falling back to ChatML when it has none) or a built-in. */
export type TemplateChoice = 'model' | BuiltinTemplate;

/** ChatML, as transformers' old default_chat_template wrote it. */
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Stanford Alpaca's prompt; a system message replaces the preamble; turns must alternate. */
const ALPACA =
  "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% set offset = 1 %}" +
  "{% else %}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n' }}{% set offset = 0 %}{% endif %}" +
  "{% for message in messages %}{% if loop.index0 >= offset %}" +
  "{% if (message['role'] == 'user') != ((loop.index0 - offset) % 2 == 0) or message['role'] not in ['user', 'assistant'] %}" +
  "{{ raise_exception('the Alpaca template needs turns that alternate user/assistant, starting with user') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}" +
  "{% else %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}" +
  "{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}";

/** No markup: prompt and completion as written (TRL's prompt-completion), EOS after each completion. */
const PLAIN =
  "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ message['content'] + eos_token }}" +
  "{% elif message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% else %}{{ message['content'] }}{% endif %}{% endfor %}";

const SOURCES: Record<BuiltinTemplate, string> = { chatml: CHATML, alpaca: ALPACA, plain: PLAIN };

export interface ResolvedTemplate {
  /** 'model' for the model's own template, else the built-in's name. */
  name: TemplateChoice;
  source: string;
  /** The model's template text already holds BOS; a built-in relies on the tokenizer adding it. */
  addSpecialTokens: boolean;
  /** Set when 'model' was asked for but the model has no template. */
  fallbackReason?: string;
}

export function builtinTemplate(name: BuiltinTemplate): ResolvedTemplate {
  return { name, source: SOURCES[name], addSpecialTokens: true };
}

export function resolveTemplate(tokenizer: Pick<ModelTokenizer, 'chatTemplate'>, choice: TemplateChoice = 'model'): ResolvedTemplate {
  if (choice !== 'model') return builtinTemplate(choice);
  if (tokenizer.chatTemplate) return { name: 'model', source: tokenizer.chatTemplate, addSpecialTokens: false };
  return { ...builtinTemplate('chatml'), fallbackReason: 'the model has no chat template; using the built-in ChatML' };
}

export function isTemplateChoice(s: string): s is TemplateChoice {
  return s === 'model' || (BUILTIN_TEMPLATES as readonly string[]).includes(s);
}
