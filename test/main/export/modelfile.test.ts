import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChatTemplate, type ChatMessage } from '../../../src/main/ml/chat-template';
import { builtinTemplate } from '../../../src/main/datasets/templates';
import { buildModelfile, goTemplate, probeChatTemplate } from '../../../src/main/export/modelfile';
import { adapterDir } from '../adapters/fixtures';
import { renderGoTemplate } from './gotemplate';

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'user', content: 'Hi there' }],
  [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '4' },
    { role: 'user', content: 'And 3+3?' },
  ],
  [
    { role: 'user', content: 'a {{ b }} c' },
    { role: 'assistant', content: 'ok' },
    { role: 'user', content: 'more' },
  ],
];

function expectSameAsJinja(template: string, tokens: { bos?: string; eos?: string }): string {
  const p = probeChatTemplate(template, tokens);
  if (!('wrapper' in p)) throw new Error(p.reason);
  const go = goTemplate(p.wrapper);
  for (const conv of CONVERSATIONS) {
    // The BOS a template writes is added by the tokenizer in Ollama, so compare without it.
    const jinja = renderChatTemplate(template, conv, { addGenerationPrompt: true, specialTokens: { bos_token: '', eos_token: tokens.eos ?? '' } });
    expect(renderGoTemplate(go, conv.map((m) => ({ Role: m.role, Content: m.content })))).toBe(jinja);
  }
  return go;
}

describe('Ollama TEMPLATE from the training chat template', () => {
  it('ChatML (built-in) becomes the Go template a person would write', () => {
    const go = expectSameAsJinja(builtinTemplate('chatml').source, { eos: '<|im_end|>' });
    expect(go).toBe(
      '{{ range .Messages }}{{ if eq .Role "system" }}<|im_start|>system\n{{ .Content }}<|im_end|>\n{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' +
        '{{ else if eq .Role "assistant" }}<|im_start|>assistant\n{{ .Content }}<|im_end|>\n{{ end }}{{ end }}<|im_start|>assistant\n',
    );
  });

  it("SmolLM2's template, with its default system prompt", () => {
    const tpl = fs.readFileSync(path.join(adapterDir('smollm2-360m-instruct-q_v-r8'), 'chat_template.jinja'), 'utf8');
    const go = expectSameAsJinja(tpl, { bos: '<|im_start|>', eos: '<|im_end|>' });
    expect(go).toContain('{{ if or (not .Messages) (ne (index .Messages 0).Role "system") }}<|im_start|>system\nYou are a helpful AI assistant named SmolLM');
  });

  it("Qwen2.5's template (tools branch unused)", () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir('qwen2.5-0.5b-instruct-q_v-r8'), 'tokenizer_config.json'), 'utf8'));
    expectSameAsJinja(cfg.chat_template, { eos: '<|im_end|>' });
  });

  it('Llama 3 and Alpaca (the built-in, with its preamble as the default block)', () => {
    const llama3 =
      "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
    expectSameAsJinja(llama3, { bos: '<|begin_of_text|>', eos: '<|eot_id|>' });
    const go = expectSameAsJinja(builtinTemplate('alpaca').source, { eos: '</s>' });
    expect(go).toContain('Below is an instruction that describes a task.');
  });

  it('writes FROM, TEMPLATE and stop parameters', () => {
    const mf = buildModelfile({ ggufFile: 'model.gguf', chatTemplate: builtinTemplate('chatml').source, tokens: { eos: '<|im_end|>' } });
    expect(mf.translated).toBe(true);
    expect(mf.text.split('\n')[0]).toBe('FROM ./model.gguf');
    expect(mf.text).toContain('TEMPLATE """{{ range .Messages }}');
    expect(mf.stops).toEqual(['<|im_end|>', '<|im_start|>user']);
    expect(mf.text).toContain('PARAMETER stop "<|im_end|>"\nPARAMETER stop "<|im_start|>user"\n');
  });

  it('leaves Llama 2 [INST] (system inside the first user turn) to the GGUF template, and says so', () => {
    const llama2 =
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
      "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
      "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    const mf = buildModelfile({ ggufFile: 'm.gguf', chatTemplate: llama2, tokens: { bos: '<s>', eos: '</s>' } });
    expect(mf.translated).toBe(false);
    expect(mf.note).toMatch(/could not be translated.*tokenizer\.chat_template/);
    expect(mf.text).toBe('FROM ./m.gguf\nPARAMETER stop "</s>"\n');
  });
});
