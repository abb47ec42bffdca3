import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChatTemplateError, applyChatTemplate, renderChatTemplate } from '../../../src/main/ml/chat-template';
import { loadTokenizer } from '../../../src/main/ml/tokenizer';
import { FIXTURES, GPT2_DIR, LLAMA2_SPM_DIR } from './helpers';

const LLAMA2_CHAT = path.join(LLAMA2_SPM_DIR, 'variant-merges-as-pairs');
const SMOL = path.join(FIXTURES, 'peft-adapters/smollm2-360m-instruct-q_v-r8');
const QWEN_CONFIG = path.join(FIXTURES, 'peft-adapters/qwen2.5-0.5b-instruct-q_v-r8/tokenizer_config.json');

describe('chat templates', () => {
  it('renders the Llama-2 template from tokenizer_config.json with the tokenizer\'s special tokens', () => {
    const tok = loadTokenizer(LLAMA2_CHAT);
    const text = applyChatTemplate(tok, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Bye' },
    ]);
    expect(text).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] Bye [/INST]');
    // Rendered text carries its own BOS: encode without adding another.
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.filter((i) => i === tok.bosTokenId).length).toBe(2);
  });

  it('turns the template\'s raise_exception into a ChatTemplateError', () => {
    const tok = loadTokenizer(LLAMA2_CHAT);
    expect(() => applyChatTemplate(tok, [{ role: 'assistant', content: 'first' }])).toThrow(ChatTemplateError);
    expect(() => applyChatTemplate(tok, [{ role: 'assistant', content: 'first' }])).toThrow(/Conversation roles must alternate/);
  });

  it('renders SmolLM2\'s chat_template.jinja with and without the generation prompt', () => {
    const tok = loadTokenizer(SMOL);
    const messages = [{ role: 'user', content: 'What is 2+2?' }];
    const sys = '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n';
    expect(applyChatTemplate(tok, messages)).toBe(`${sys}<|im_start|>user\nWhat is 2+2?<|im_end|>\n`);
    expect(applyChatTemplate(tok, messages, { addGenerationPrompt: true })).toBe(`${sys}<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n`);
  });

  it('renders the Qwen2.5 template (namespaces, tools branch, default system prompt)', () => {
    const template = (JSON.parse(fs.readFileSync(QWEN_CONFIG, 'utf8')) as { chat_template: string }).chat_template;
    const text = renderChatTemplate(template, [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    expect(text).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('refuses a model without a template, and a template that does not parse', () => {
    expect(() => applyChatTemplate(loadTokenizer(GPT2_DIR), [{ role: 'user', content: 'x' }])).toThrow(/no chat template/);
    expect(() => renderChatTemplate('{% for %}', [])).toThrow(/chat template does not parse/);
  });
});
