import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type TokenEvent } from '../../../src/main/ml/generate';
import { loadModel, loadModelFolder, type LoadedModelFolder } from '../../../src/main/ml/loader';
import type { CausalLM } from '../../../src/main/ml/models/causal-lm';
import { GOLDEN_MODELS, LLAMA_DIR } from './helpers';

const SAMPLED = { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1 };

describe.each([
  ['llama3-gqa', path.join(GOLDEN_MODELS, 'tiny-llama3-gqa')],
  ['qwen2', path.join(GOLDEN_MODELS, 'tiny-qwen2')],
  ['gpt2', path.join(GOLDEN_MODELS, 'tiny-gpt2-old-names')],
])('generate on %s', (_name, dir) => {
  let model: CausalLM;
  const prompts = [[3, 17, 42], [5, 9, 61, 23, 77, 12, 8], [40]];
  beforeAll(() => {
    model = loadModel(dir).model;
  });
  afterAll(() => model.dispose());

  it('gives the same tokens with and without the KV cache (greedy and seeded sampling)', async () => {
    for (const opts of [{}, { ...SAMPLED, seed: 7 }]) {
      const withCache = await generate(model, prompts, { maxNewTokens: 10, ...opts });
      const without = await generate(model, prompts, { maxNewTokens: 10, ...opts, useCache: false });
      expect(withCache.tokens).toEqual(without.tokens);
      expect(withCache.tokens.every((t) => t.length === 10)).toBe(true);
    }
  });

  it('gives each prompt of a left-padded batch the tokens it gets alone', async () => {
    const batched = await generate(model, prompts, { maxNewTokens: 10 });
    for (const [i, p] of prompts.entries()) {
      const alone = await generate(model, [p], { maxNewTokens: 10 });
      expect(batched.tokens[i]).toEqual(alone.tokens[0]);
    }
    expect(new Set(batched.tokens.map((t) => t.join(','))).size).toBeGreaterThan(1); // the rows really differ
  });

  it('is reproducible for a seed, and the seed matters', async () => {
    const a = await generate(model, [prompts[1]], { maxNewTokens: 16, ...SAMPLED, temperature: 1.5, topK: 0, topP: 1, seed: 1 });
    const b = await generate(model, [prompts[1]], { maxNewTokens: 16, ...SAMPLED, temperature: 1.5, topK: 0, topP: 1, seed: 1 });
    const c = await generate(model, [prompts[1]], { maxNewTokens: 16, ...SAMPLED, temperature: 1.5, topK: 0, topP: 1, seed: 2 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('stops a row at any of several EOS ids and keeps generating the others', async () => {
    const free = await generate(model, prompts, { maxNewTokens: 8 });
    const eos = [free.tokens[0][2], 999_999];
    const res = await generate(model, prompts, { maxNewTokens: 8, eosTokenIds: eos });
    expect(res.finishReasons[0]).toBe('eos');
    expect(res.tokens[0]).toEqual(free.tokens[0].slice(0, free.tokens[0].indexOf(eos[0]) + 1));
    for (const i of [1, 2]) {
      const stopAt = free.tokens[i].indexOf(eos[0]);
      expect(res.tokens[i]).toEqual(stopAt < 0 ? free.tokens[i] : free.tokens[i].slice(0, stopAt + 1));
      expect(res.finishReasons[i]).toBe(stopAt < 0 ? 'length' : 'eos');
    }
  });

  it('leaves no tensors behind', async () => {
    await generate(model, prompts, { maxNewTokens: 3 });
    const before = tf.memory().numTensors;
    await generate(model, prompts, { maxNewTokens: 5, ...SAMPLED, seed: 3 });
    await generate(model, prompts, { maxNewTokens: 5, useCache: false });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('generate with a tokenizer (tiny-random-llama)', () => {
  let loaded: LoadedModelFolder;
  let prompt: number[];
  beforeAll(() => {
    loaded = loadModelFolder(LLAMA_DIR);
    prompt = loaded.tokenizer.encode('Once upon a time');
  });
  afterAll(() => loaded.model.dispose());

  it('streams text through onToken that adds up to the returned text', async () => {
    const events: TokenEvent[] = [];
    const res = await generate(loaded.model, [prompt], { maxNewTokens: 20, tokenizer: loaded.tokenizer, onToken: (e) => events.push(e) });
    expect(events.filter((e) => e.tokenId !== null).map((e) => e.tokenId)).toEqual(res.tokens[0]);
    expect(events.map((e) => e.text).join('')).toBe(res.texts[0]);
    expect(res.texts[0]).toBe(loaded.tokenizer.decode(res.tokens[0], { skipSpecialTokens: true }));
    expect(res.texts[0].length).toBeGreaterThan(0);
    expect(res.finishReasons).toEqual(['length']);
  });

  it('stops on a stop string, cuts the text before it and never streams any of it', async () => {
    const free = await generate(loaded.model, [prompt], { maxNewTokens: 24, tokenizer: loaded.tokenizer });
    const text = free.texts[0];
    expect(text.length).toBeGreaterThan(6); // texts come back without an onToken callback too
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    const streamed: string[] = [];
    const res = await generate(loaded.model, [prompt], {
      maxNewTokens: 24,
      tokenizer: loaded.tokenizer,
      stopStrings: [stop, 'never-generated-string'],
      onToken: (e) => streamed.push(e.text),
    });
    expect(res.finishReasons).toEqual(['stop']);
    expect(res.texts[0]).toBe(text.slice(0, text.indexOf(stop)));
    expect(streamed.join('')).toBe(res.texts[0]);
    expect(res.tokens[0].length).toBeLessThan(24);
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    const res = await generate(loaded.model, [prompt], {
      maxNewTokens: 50,
      signal: ac.signal,
      onToken: (e) => {
        if (e.tokenId !== null) ac.abort();
      },
    });
    expect(res.finishReasons).toEqual(['aborted']);
    expect(res.tokens[0].length).toBe(1);
  });

  it('refuses stop strings without a tokenizer and empty prompts', async () => {
    await expect(generate(loaded.model, [prompt], { maxNewTokens: 2, stopStrings: ['x'] })).rejects.toThrow(/stop strings need a tokenizer/);
    await expect(generate(loaded.model, [[]], { maxNewTokens: 2 })).rejects.toThrow(/at least one token/);
  });

  it('reports prefill and decode timings', async () => {
    const res = await generate(loaded.model, [prompt], { maxNewTokens: 5 });
    expect(res.prefillMs).toBeGreaterThan(0);
    expect(res.decodeSteps).toBe(4);
    expect(res.decodeMs).toBeGreaterThan(0);
  });
});
