import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../../src/main/ml/tokenizer';
import { TemplateRejectedError, measureExample, renderExample } from '../../../src/main/datasets/render';
import { builtinTemplate, resolveTemplate, type ResolvedTemplate } from '../../../src/main/datasets/templates';
import { tokenPieces } from '../../../src/main/datasets/pieces';
import type { Example } from '../../../src/main/datasets/types';
import { fixtures } from './helpers';

const llama = loadTokenizer(path.join(fixtures, 'models/tiny-random-llama'));
const gpt2 = loadTokenizer(path.join(fixtures, 'models/tiny-gpt2'));
const smol = loadTokenizer(path.join(fixtures, 'peft-adapters/smollm2-360m-instruct-q_v-r8'));

const conversation: Example = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi there' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: 'It is 4.' },
  ],
};

/** [start, end) of each run of trained tokens. */
function runs(mask: number[]): [number, number][] {
  const out: [number, number][] = [];
  mask.forEach((m, i) => {
    if (m === 1 && (i === 0 || mask[i - 1] === 0)) out.push([i, i + 1]);
    else if (m === 1) out[out.length - 1][1] = i + 1;
  });
  return out;
}

/** Meta's Llama-2 chat template, as in meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json. */
const LLAMA2_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
  "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
const llama2: ResolvedTemplate = { name: 'model', source: LLAMA2_TEMPLATE, addSpecialTokens: false };

describe('SmolLM2 chat template (the model’s own)', () => {
  const template = resolveTemplate(smol, 'model');

  it('is read from chat_template.jinja', () => {
    expect(template.name).toBe('model');
    expect(template.source).toContain('<|im_start|>');
  });

  it('trains exactly each answer and its <|im_end|>, masks everything else', () => {
    const r = renderExample(conversation, { tokenizer: smol, template });
    expect(r.text).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n',
    );
    expect(r.ids).toEqual(smol.encode(r.text, { addSpecialTokens: false }));
    const trained = runs(r.labelsMask);
    expect(trained).toHaveLength(2);
    const imEnd = smol.tokenToId('<|im_end|>')!;
    const expected = ['Hello!', 'It is 4.'].map((a) => [...smol.encode(a, { addSpecialTokens: false }), imEnd]);
    expect(trained.map(([s, e]) => r.ids.slice(s, e))).toEqual(expected);
    // What is masked: everything up to each answer, and the newline after each <|im_end|>.
    const [[s1, e1], [s2, e2]] = trained;
    expect(smol.decode(r.ids.slice(0, s1))).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    expect(smol.decode(r.ids.slice(e1, s2))).toBe('\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
    expect(smol.decode(r.ids.slice(e2))).toBe('\n');
    expect(r.truncated).toBe(false);
  });

  it('adds its default system prompt when the conversation has none, masked', () => {
    const r = renderExample({ messages: conversation.messages.slice(1, 3) } as Example, { tokenizer: smol, template });
    expect(r.text.startsWith('<|im_start|>system\nYou are a helpful AI assistant named SmolLM')).toBe(true);
    expect(runs(r.labelsMask).map(([s, e]) => smol.decode(r.ids.slice(s, e)))).toEqual(['Hello!<|im_end|>']);
  });

  it('leaves an assistant turn with weight 0 untrained', () => {
    const ex: Example = { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b', weight: 0 }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }] };
    const r = renderExample(ex, { tokenizer: smol, template });
    expect(runs(r.labelsMask).map(([s, e]) => smol.decode(r.ids.slice(s, e)))).toEqual(['d<|im_end|>']);
  });

  it('truncates to the max length and says so', () => {
    const full = renderExample(conversation, { tokenizer: smol, template });
    const r = renderExample(conversation, { tokenizer: smol, template, maxLength: 20 });
    expect(r).toMatchObject({ truncated: true, length: full.ids.length });
    expect(r.ids).toEqual(full.ids.slice(0, 20));
    expect(r.labelsMask).toEqual(full.labelsMask.slice(0, 20));
    expect(measureExample(conversation, { tokenizer: smol, template })).toBe(full.ids.length);
  });

  it('gives token pieces that join back into the text, flagged trained or masked', () => {
    const r = renderExample(conversation, { tokenizer: smol, template });
    const pieces = tokenPieces(smol, r.ids, r.labelsMask);
    expect(pieces.map((p) => p.text).join('')).toBe(r.text);
    expect(pieces.filter((p) => p.trained).map((p) => p.text).join('|')).toBe('Hello|!|<|im_end|>|It| is| |4|.|<|im_end|>');
    expect(pieces[0]).toEqual({ text: '<|im_start|>', trained: false, special: true });
  });
});

describe('tiny-random-llama (Llama-2 SentencePiece tokenizer, no chat template)', () => {
  it('falls back to the built-in ChatML, with BOS from the tokenizer, masked', () => {
    const template = resolveTemplate(llama, 'model');
    expect(template).toMatchObject({ name: 'chatml', fallbackReason: expect.stringMatching(/no chat template/) });
    const r = renderExample(conversation, { tokenizer: llama, template });
    expect(r.ids[0]).toBe(llama.bosTokenId);
    expect(r.labelsMask[0]).toBe(0);
    const trained = runs(r.labelsMask).map(([s, e]) => llama.decode(r.ids.slice(s, e)));
    expect(trained).toEqual(['Hello!<|im_end|>', 'It is 4.<|im_end|>']);
    // <|im_end|> is not a token of this vocabulary: it is trained as the pieces it splits into.
    expect(llama.tokenToId('<|im_end|>')).toBeNull();
  });

  it('with the Llama-2 chat template: trains " answer </s>", masks [INST] blocks and the BOS of each turn', () => {
    const r = renderExample(conversation, { tokenizer: llama, chatTemplate: LLAMA2_TEMPLATE });
    expect(r).toEqual(renderExample(conversation, { tokenizer: llama, template: llama2 }));
    expect(r.text).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] What is 2+2? [/INST] It is 4. </s>');
    const tokens = r.ids.map((id) => llama.idToToken(id));
    const trained = runs(r.labelsMask).map(([s, e]) => tokens.slice(s, e));
    expect(trained).toEqual([
      ['▁Hello', '!', '▁', '</s>'],
      ['▁It', '▁is', '▁', '4', '.', '▁', '</s>'],
    ]);
    expect(r.labelsMask.reduce((a, b) => a + b, 0)).toBe(11);
    expect(tokens.filter((t, i) => t === '<s>' && r.labelsMask[i] === 0)).toHaveLength(2);
  });

  it('a template that raises on the role order makes a row error', () => {
    const twoUsers: Example = { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'assistant', content: 'c' }] };
    expect(() => renderExample(twoUsers, { tokenizer: llama, template: llama2 })).toThrow(TemplateRejectedError);
    expect(() => renderExample(twoUsers, { tokenizer: llama, template: llama2 })).toThrow(/roles must alternate/);
    expect(() => renderExample(twoUsers, { tokenizer: llama, template: builtinTemplate('alpaca') })).toThrow(/alternate user\/assistant/);
    // ChatML takes any order.
    expect(renderExample(twoUsers, { tokenizer: llama, template: builtinTemplate('chatml') }).labelsMask).toContain(1);
  });

  it('the Alpaca built-in: preamble, ### blocks, answers + </s> trained', () => {
    const r = renderExample(conversation, { tokenizer: llama, builtin: 'alpaca' });
    expect(r.text).toBe('Be brief.\n\n### Instruction:\nHi there\n\n### Response:\nHello!</s>\n\n### Instruction:\nWhat is 2+2?\n\n### Response:\nIt is 4.</s>\n\n');
    expect(runs(r.labelsMask).map(([s, e]) => llama.decode(r.ids.slice(s, e)))).toEqual(['Hello!</s>', 'It is 4.</s>']);
  });
});

describe('tiny-gpt2 (byte-level BPE, no chat template, no BOS)', () => {
  it('ChatML fallback: exact trained ids', () => {
    const r = renderExample(conversation, { tokenizer: gpt2, template: resolveTemplate(gpt2, 'model') });
    expect(r.ids).toEqual(gpt2.encode(r.text));
    const trained = runs(r.labelsMask).map(([s, e]) => r.ids.slice(s, e));
    expect(trained).toEqual(['Hello!<|im_end|>', 'It is 4.<|im_end|>'].map((t) => gpt2.encode(t)));
  });

  it('plain: prompt and completion as written, <|endoftext|> after each answer, trained', () => {
    const r = renderExample(conversation, { tokenizer: gpt2, template: builtinTemplate('plain') });
    expect(r.text).toBe('Be brief.\n\nHi thereHello!<|endoftext|>What is 2+2?It is 4.<|endoftext|>');
    const eos = gpt2.eosTokenId!;
    expect(eos).toBe(50256);
    expect(runs(r.labelsMask).map(([s, e]) => r.ids.slice(s, e))).toEqual([
      [...gpt2.encode('Hello!'), eos],
      [...gpt2.encode('It is 4.'), eos],
    ]);
  });

  it('plain text rows: every token trained, ending with EOS', () => {
    const r = renderExample({ text: 'Once upon a time 🐉' }, { tokenizer: gpt2, template: builtinTemplate('chatml') });
    expect(r.ids).toEqual([...gpt2.encode('Once upon a time 🐉'), 50256]);
    expect(r.labelsMask.every((m) => m === 1)).toBe(true);
    expect(r.text).toBe('Once upon a time 🐉<|endoftext|>');
    const pieces = tokenPieces(gpt2, r.ids, r.labelsMask);
    expect(pieces.map((p) => p.text).join('')).toBe(r.text);
  });

  it('text rows on Llama: BOS masked, the rest trained', () => {
    const r = renderExample({ text: 'Привет мир' }, { tokenizer: llama, template: builtinTemplate('chatml') });
    expect(r.ids[0]).toBe(llama.bosTokenId);
    expect(r.ids.at(-1)).toBe(llama.eosTokenId);
    expect(r.labelsMask).toEqual(r.ids.map((_, i) => (i === 0 ? 0 : 1)));
  });
});
