import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IncrementalDecoder, TokenizerLoadError, loadTokenizer, type ModelTokenizer } from '../../../src/main/ml/tokenizer';
import { FIXTURES, GPT2_DIR, LLAMA2_SPM_DIR, LLAMA_DIR, tempDir } from './helpers';

const SAMPLES = [
  'Hello world',
  'digits 0123456789 and 3.14159, -42',
  '  leading spaces, trailing spaces   ',
  'tabs\tand\nnewlines\n\n\nand\r\nCRLF',
  'Ünïcödé façade naïve — “quotes” ½',
  '日本語のテキストと中文',
  'Привет, мир! مرحبا بالعالم',
  'emoji 😀👍🏽 👨‍👩‍👧 🇫🇷',
  '',
];

const TOKENIZERS: [string, string][] = [
  ['tiny-random-llama (Llama-2 SentencePiece BPE)', LLAMA_DIR],
  ['llama2-spm', LLAMA2_SPM_DIR],
  ['llama2-spm merges-as-pairs variant', path.join(LLAMA2_SPM_DIR, 'variant-merges-as-pairs')],
  ['tiny-gpt2 (byte-level BPE)', GPT2_DIR],
];

describe.each(TOKENIZERS)('%s', (_name, dir) => {
  const tok = loadTokenizer(dir);

  it.each(SAMPLES.map((s) => [JSON.stringify(s), s]))('round-trips %s', (_label, text) => {
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < tok.vocabSize)).toBe(true);
    expect(tok.decode(ids)).toBe(text);
  });

  it('streams text piece by piece that joins to the full decode', () => {
    const text = SAMPLES.join(' | ');
    const ids = tok.encode(text, { addSpecialTokens: false });
    const dec = new IncrementalDecoder(tok);
    const pieces = ids.map((id) => dec.push(id));
    pieces.push(dec.flush());
    expect(pieces.join('')).toBe(text);
    expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
  });
});

describe('Llama-2 tokenizer specifics', () => {
  const tok: ModelTokenizer = loadTokenizer(LLAMA_DIR);

  it('adds BOS (add_bos_token true) but not EOS, and knows its special tokens', () => {
    expect(tok.encode('Hello world')).toEqual([1, 15043, 3186]);
    expect(tok.encode('Hello world', { addSpecialTokens: false })).toEqual([15043, 3186]);
    expect([tok.bosToken, tok.bosTokenId, tok.eosToken, tok.eosTokenId, tok.padToken, tok.padTokenId]).toEqual(['<s>', 1, '</s>', 2, '<unk>', 0]);
    expect([...tok.specialTokenIds].sort()).toEqual([0, 1, 2]);
  });

  it('splits digits one by one and maps special tokens written in text to their ids', () => {
    expect(tok.encode('12345', { addSpecialTokens: false })).toEqual([29871, 29896, 29906, 29941, 29946, 29945]);
    const ids = tok.encode('<s>[INST] hi [/INST]</s>', { addSpecialTokens: false });
    expect(ids[0]).toBe(1);
    expect(ids.at(-1)).toBe(2);
    expect(tok.decode(ids, { skipSpecialTokens: true })).not.toMatch(/<\/?s>/);
    expect(tok.decode(ids)).toContain('</s>');
  });

  it('gives the same ids with merges stored as strings or as pairs', () => {
    const pairs = loadTokenizer(path.join(LLAMA2_SPM_DIR, 'variant-merges-as-pairs'));
    for (const s of SAMPLES) expect(pairs.encode(s)).toEqual(tok.encode(s));
  });

  it('honours add_eos_token from tokenizer_config.json', () => {
    const { dir, cleanup } = tempDir('tok-');
    try {
      fs.copyFileSync(path.join(LLAMA_DIR, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
      const config = JSON.parse(fs.readFileSync(path.join(LLAMA_DIR, 'tokenizer_config.json'), 'utf8'));
      fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: false, add_eos_token: true }));
      expect(loadTokenizer(dir).encode('Hello world')).toEqual([15043, 3186, 2]);
    } finally {
      cleanup();
    }
  });
});

describe('GPT-2 tokenizer specifics', () => {
  const tok = loadTokenizer(GPT2_DIR);

  it('adds no special tokens and maps <|endoftext|> in text to 50256', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId]).toEqual([50256, 50256, null]);
    expect(tok.vocabSize).toBe(50257);
    expect(tok.chatTemplate).toBeNull();
  });
});

describe('loadTokenizer errors', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('tok-')));
  afterEach(() => cleanup());

  it('missing tokenizer.json, naming what was found instead', () => {
    fs.writeFileSync(path.join(dir, 'vocab.json'), '{}');
    fs.writeFileSync(path.join(dir, 'merges.txt'), '');
    expect(() => loadTokenizer(dir)).toThrow(TokenizerLoadError);
    expect(() => loadTokenizer(dir)).toThrow(/missing tokenizer: no tokenizer\.json \(found vocab\.json, merges\.txt/);
  });

  it('tokenizer.json that is not JSON', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: not valid JSON/);
  });

  it('tokenizer_config.json that is not JSON', () => {
    fs.copyFileSync(path.join(GPT2_DIR, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), 'nope');
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer_config\.json: not valid JSON/);
  });

  it('reads chat_template.jinja before tokenizer_config.json', () => {
    const smol = path.join(FIXTURES, 'peft-adapters/smollm2-360m-instruct-q_v-r8');
    const tok = loadTokenizer(smol);
    expect(tok.chatTemplate).toBe(fs.readFileSync(path.join(smol, 'chat_template.jinja'), 'utf8'));
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.encode('<|im_start|>user', { addSpecialTokens: false })[0]).toBe(tok.tokenToId('<|im_start|>'));
  });
});
