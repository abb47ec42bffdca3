import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfigJson } from '../../../src/main/ml/config';
import { checkPeftAdapter, modelShapes } from '../../../src/main/adapters/peft-check';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, classifyTensor, readAdapterConfig, readAdapterWeights, writeAdapterFiles } from '../../../src/main/adapters/peft-files';
import { dumpsPyJson, parsePyJson, pyFloatRepr } from '../../../src/main/adapters/pyjson';
import { TINY_LLAMA, adapterDir, rawConfig } from './fixtures';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-import-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CAUSAL = [
  { dir: 'gpt2-c_attn-c_proj-r8', base: 'gpt2', layers: 12, targets: ['c_attn', 'c_proj'], perLayer: 3, sample: ['transformer.h.0.attn.c_attn', 768, 2304] },
  { dir: 'smollm2-360m-instruct-q_v-r8', base: 'HuggingFaceTB/SmolLM2-360M-Instruct', layers: 32, targets: ['q_proj', 'v_proj'], perLayer: 2, sample: ['model.layers.31.self_attn.v_proj', 960, 320] },
  { dir: 'qwen2.5-0.5b-instruct-q_v-r8', base: 'Qwen/Qwen2.5-0.5B-Instruct', layers: 24, targets: ['q_proj', 'v_proj'], perLayer: 2, sample: ['model.layers.5.self_attn.v_proj', 896, 128] },
  { dir: 'llama3.2-1b-q_v-r8', base: 'meta-llama/Llama-3.2-1B', layers: 16, targets: ['q_proj', 'v_proj'], perLayer: 2, sample: ['model.layers.15.self_attn.q_proj', 2048, 2048] },
] as const;

describe('the five real PEFT adapters', () => {
  for (const name of [...CAUSAL.map((c) => c.dir), 'gpt2-seqcls-c_attn-r8']) {
    it(`${name}: config and weights parse`, () => {
      const cfg = readAdapterConfig(adapterDir(name));
      expect(cfg.settings.peftType).toBe('LORA');
      expect(cfg.settings.r).toBe(8);
      if (name.startsWith('gpt2-seqcls')) return; // its extra head is refused by the check below
      const w = readAdapterWeights(adapterDir(name));
      expect(w.modules.length).toBeGreaterThan(0);
      for (const m of w.modules) {
        expect(m.a.length).toBe(m.r * m.inFeatures);
        expect(m.b.length).toBe(m.outFeatures * m.r);
      }
    });
  }

  for (const c of CAUSAL) {
    it(`${c.dir}: every tensor maps onto ${c.base}'s modules with the right shapes`, () => {
      const check = checkPeftAdapter(adapterDir(c.dir), modelShapes(rawConfig(c.base), c.base));
      expect(check.problems).toEqual([]);
      expect(check.modules.length).toBe(c.layers * c.perLayer);
      expect(check.targets).toEqual(c.targets);
      expect(check.layers).toBeNull(); // all layers
      const [module, inF, outF] = c.sample;
      const m = check.modules.find((x) => x.name === module);
      expect(m).toMatchObject({ inFeatures: inF, outFeatures: outF, r: 8 });
    });
  }

  it('GPT-2: c_proj maps to both the attention and the MLP projection, with the MLP one taking 3072 inputs', () => {
    const check = checkPeftAdapter(adapterDir('gpt2-c_attn-c_proj-r8'), modelShapes(rawConfig('gpt2'), 'gpt2'));
    expect(check.modules.find((m) => m.name === 'transformer.h.3.mlp.c_proj')).toMatchObject({ inFeatures: 3072, outFeatures: 768 });
    expect(check.modules.find((m) => m.name === 'transformer.h.3.attn.c_proj')).toMatchObject({ inFeatures: 768, outFeatures: 768 });
    expect(check.config.settings.fanInFanOut).toBe(true);
  });

  it('refuses the GPT-2 sequence-classification adapter and says why', () => {
    const check = checkPeftAdapter(adapterDir('gpt2-seqcls-c_attn-r8'), modelShapes(rawConfig('gpt2'), 'gpt2'));
    const text = check.problems.join('\n');
    expect(text).toMatch(/task_type is SEQ_CLS \(sequence classification\)/);
    expect(text).toMatch(/classification head \(base_model\.model\.score\.weight \[6, 768\]\)/);
    expect(text).toMatch(/modules_to_save/);
    expect(check.modules.length).toBe(12); // the c_attn factors themselves map fine
  });

  it('refuses an adapter whose base differs in shape from the chosen model', () => {
    const tiny = modelShapes(readConfigJson(TINY_LLAMA), 'tiny-random-llama');
    const check = checkPeftAdapter(adapterDir('smollm2-360m-instruct-q_v-r8'), tiny);
    const text = check.problems.join('\n');
    expect(text).toMatch(/60 adapted module\(s\) do not exist in the model/);
    expect(text).toMatch(/layers up to 31 but tiny-random-llama has 2/);
    expect(text).toMatch(/model\.layers\.0\.self_attn\.q_proj is 16×16 \(out×in\) in the model but 960×960 in the adapter/);
    expect(text).toMatch(/trained on "HuggingFaceTB\/SmolLM2-360M-Instruct"/);
  });

  it('refuses a Llama adapter against GPT-2 (no such projections)', () => {
    const check = checkPeftAdapter(adapterDir('llama3.2-1b-q_v-r8'), modelShapes(rawConfig('gpt2'), 'gpt2'));
    expect(check.problems.join('\n')).toMatch(/32 adapted module\(s\) do not exist in the model.*gpt2 \(gpt2\) has no projections named like model\.layers\.N\.self_attn\.q_proj, model\.layers\.N\.self_attn\.v_proj: the adapter was trained on "meta-llama\/Llama-3\.2-1B", a different architecture/);
  });
});

describe('tensor names from other tools', () => {
  it('accepts names without the base_model.model prefix and with an adapter-name infix', () => {
    expect(classifyTensor('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')).toEqual({ kind: 'lora', module: 'model.layers.0.self_attn.q_proj', which: 'A' });
    expect(classifyTensor('model.layers.0.self_attn.q_proj.lora_B.default.weight')).toEqual({ kind: 'lora', module: 'model.layers.0.self_attn.q_proj', which: 'B' });
    expect(classifyTensor('base_model.model.score.weight')).toEqual({ kind: 'full', module: 'score' });
    expect(classifyTensor('base_model.model.lm_head.modules_to_save.default.weight')).toEqual({ kind: 'full', module: 'lm_head' });
    expect(classifyTensor('base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector')).toMatchObject({ kind: 'dora' });
    expect(classifyTensor('base_model.model.model.embed_tokens.lora_embedding_A')).toMatchObject({ kind: 'embedding-lora' });
  });
});

describe('PEFT-exact files', () => {
  for (const name of ['gpt2-c_attn-c_proj-r8', 'smollm2-360m-instruct-q_v-r8', 'llama3.2-1b-q_v-r8', 'qwen2.5-0.5b-instruct-q_v-r8', 'gpt2-seqcls-c_attn-r8']) {
    it(`${name}: adapter_config.json re-serialises byte for byte`, () => {
      // llama3.2's was saved on Windows (Python text mode writes \r\n); the rest is identical.
      const text = fs.readFileSync(path.join(adapterDir(name), ADAPTER_CONFIG), 'utf8').replace(/\r\n/g, '\n');
      expect(dumpsPyJson(parsePyJson(text))).toBe(text);
    });
  }

  it('rewrites adapter_model.safetensors byte for byte (sorted names, format pt, F32)', () => {
    for (const name of ['llama3.2-1b-q_v-r8', 'gpt2-c_attn-c_proj-r8']) {
      const src = adapterDir(name);
      const w = readAdapterWeights(src);
      const out = path.join(tmp, name);
      fs.mkdirSync(out);
      writeAdapterFiles(out, w.config.tree, w.modules);
      expect(Buffer.compare(fs.readFileSync(path.join(out, ADAPTER_WEIGHTS)), fs.readFileSync(path.join(src, ADAPTER_WEIGHTS)))).toBe(0);
      expect(fs.readFileSync(path.join(out, ADAPTER_CONFIG), 'utf8')).toBe(fs.readFileSync(path.join(src, ADAPTER_CONFIG), 'utf8').replace(/\r\n/g, '\n'));
    }
  });

  it('writes floats and non-ASCII as Python does', () => {
    expect(pyFloatRepr(0.05)).toBe('0.05');
    expect(pyFloatRepr(0)).toBe('0.0');
    expect(pyFloatRepr(16)).toBe('16.0');
    expect(pyFloatRepr(1e-5)).toBe('1e-05');
    expect(pyFloatRepr(0.0001)).toBe('0.0001');
    expect(pyFloatRepr(1.5e16)).toBe('1.5e+16');
    expect(pyFloatRepr(123.25)).toBe('123.25');
    expect(dumpsPyJson(parsePyJson('{"b": [1, 2.0], "a": "é", "c": {}}'))).toBe('{\n  "a": "\\u00e9",\n  "b": [\n    1,\n    2.0\n  ],\n  "c": {}\n}');
  });
});
