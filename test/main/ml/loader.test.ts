import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectModelFolder, loadModel, loadModelFolder } from '../../../src/main/ml/loader';
import { SUPPORTED_MODEL_TYPES } from '../../../src/main/ml/models/registry';
import { SafetensorsReader, writeSafetensors, type TensorToWrite } from '../../../src/main/ml/safetensors';
import { GOLDEN_MODELS, GPT2_DIR, LLAMA_DIR, cloneModelFolder, editJson, tempDir } from './helpers';

let tmp: string;
let cleanup: () => void;
beforeEach(() => ({ dir: tmp, cleanup } = tempDir('loader-')));
afterEach(() => cleanup());

/** A copy of the llama fixture (weights symlinked) to break in one way. */
function llamaCopy(): string {
  const dir = path.join(tmp, 'model');
  cloneModelFolder(LLAMA_DIR, dir);
  return dir;
}

/** Rewrites the copy's weights through `edit` (on the list of tensors to write). */
function rewriteWeights(dir: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): void {
  const file = path.join(dir, 'model.safetensors');
  const r = SafetensorsReader.open(file);
  const tensors: TensorToWrite[] = [...r.tensors.values()].map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: r.readFloat32(t.name) }));
  r.close();
  fs.rmSync(file);
  writeSafetensors(file, edit(tensors));
}

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no error thrown');
};

describe('inspectModelFolder', () => {
  it('describes the llama fixture without loading weights', () => {
    const before = tf.memory().numTensors;
    const card = inspectModelFolder(LLAMA_DIR);
    expect(tf.memory().numTensors).toBe(before);
    expect(card).toMatchObject({
      modelType: 'llama',
      architecture: 'LlamaForCausalLM',
      numParams: 2 * 32000 * 16 + 2 * (4 * 16 * 16 + 3 * 16 * 64 + 2 * 16) + 16,
      torchDtype: 'float32',
      storedDtypes: { F32: 21 },
      weightFiles: ['model.safetensors'],
      hasChatTemplate: false,
    });
    expect(card.dims).toEqual({
      vocabSize: 32000, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 4,
      intermediateSize: 64, maxPositions: 2048, tiedEmbeddings: false,
    });
    expect(card.sizeOnDiskBytes).toBeGreaterThan(4_131_280);
    expect(card.loraTargets).toEqual([
      { module: 'self_attn.q_proj', peftName: 'q_proj', inFeatures: 16, outFeatures: 16, layers: 2 },
      { module: 'self_attn.k_proj', peftName: 'k_proj', inFeatures: 16, outFeatures: 16, layers: 2 },
      { module: 'self_attn.v_proj', peftName: 'v_proj', inFeatures: 16, outFeatures: 16, layers: 2 },
      { module: 'self_attn.o_proj', peftName: 'o_proj', inFeatures: 16, outFeatures: 16, layers: 2 },
      { module: 'mlp.gate_proj', peftName: 'gate_proj', inFeatures: 16, outFeatures: 64, layers: 2 },
      { module: 'mlp.up_proj', peftName: 'up_proj', inFeatures: 16, outFeatures: 64, layers: 2 },
      { module: 'mlp.down_proj', peftName: 'down_proj', inFeatures: 64, outFeatures: 16, layers: 2 },
    ]);
  });

  it('describes GPT-2: tied head counted once, Conv1D modules with nn.Linear in/out', () => {
    const card = inspectModelFolder(GPT2_DIR);
    expect(card.numParams).toBe(50257 * 2 + 1024 * 2 + 2 * (4 * 2 + 2 * 6 + 6 + 2 * 2 + 2 + 2 * 8 + 8 + 8 * 2 + 2) + 4);
    expect(card.dims.tiedEmbeddings).toBe(true);
    expect(card.loraTargets).toEqual([
      { module: 'attn.c_attn', peftName: 'c_attn', inFeatures: 2, outFeatures: 6, layers: 2 },
      { module: 'attn.c_proj', peftName: 'c_proj', inFeatures: 2, outFeatures: 2, layers: 2 },
      { module: 'mlp.c_fc', peftName: 'c_fc', inFeatures: 2, outFeatures: 8, layers: 2 },
      { module: 'mlp.c_proj', peftName: 'c_proj', inFeatures: 8, outFeatures: 2, layers: 2 },
    ]);
  });
});

describe('loadModelFolder', () => {
  it('loads model, tokenizer and generation defaults', () => {
    const { model, tokenizer, generationConfig } = loadModelFolder(GPT2_DIR);
    expect(model.modelType).toBe('gpt2');
    expect(tokenizer.eosTokenId).toBe(50256);
    expect(generationConfig).toMatchObject({ eosTokenIds: [50256], bosTokenId: 50256, doSample: false, topK: 50, topP: 1 });
    expect(model.weights.all().every((w) => w.loaded)).toBe(true);
    model.dispose();
  });

  it('takes EOS ids from config.json without generation_config.json, plus the tokenizer\'s', () => {
    const { model, generationConfig } = loadModelFolder(LLAMA_DIR);
    expect(generationConfig.eosTokenIds.sort()).toEqual([1, 2]);
    model.dispose();
  });

  it('loads "mistral" as the Llama decoder', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.model_type = 'mistral'));
    const a = loadModel(dir).model;
    const b = loadModel(LLAMA_DIR).model;
    const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
    const [la, lb] = [a.forward(ids), b.forward(ids)];
    expect(la.sub(lb).abs().max().dataSync()[0]).toBe(0);
    tf.dispose([la, lb, ids]);
    a.dispose();
    b.dispose();
  });

  it('refuses sequences longer than a Mistral sliding window, and Qwen2 sliding-window attention', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => ((c.model_type = 'mistral'), (c.sliding_window = 4)));
    const { model } = loadModel(dir);
    const ids = tf.tensor2d([[1, 2, 3, 4, 5]], [1, 5], 'int32');
    expect(() => model.forward(ids)).toThrow(/5 tokens exceed the sliding window of 4/);
    ids.dispose();
    model.dispose();
    const qwen = path.join(tmp, 'qwen');
    cloneModelFolder(path.join(GOLDEN_MODELS, 'tiny-qwen2'), qwen);
    editJson(path.join(qwen, 'config.json'), (c) => (c.use_sliding_window = true));
    expect(errorOf(() => loadModel(qwen))).toMatch(/config\.json: field "use_sliding_window": sliding-window attention is not supported/);
  });

  it('reads a sharded checkpoint', () => {
    const dir = llamaCopy();
    const r = SafetensorsReader.open(path.join(dir, 'model.safetensors'));
    const names = [...r.tensors.keys()];
    const shard = (i: number) => `model-0000${i}-of-00002.safetensors`;
    const map: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, 10), names.slice(10)].entries()) {
      writeSafetensors(path.join(dir, shard(i + 1)), part.map((name) => ({ name, dtype: 'BF16', shape: r.info(name).shape, data: r.readFloat32(name) })));
      for (const n of part) map[n] = shard(i + 1);
    }
    r.close();
    fs.rmSync(path.join(dir, 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
    const card = inspectModelFolder(dir);
    expect(card.weightFiles).toEqual([shard(1), shard(2)]);
    expect(card.storedDtypes).toEqual({ BF16: 21 });
    const { model } = loadModel(dir);
    expect(model.weights.all().every((w) => w.loaded)).toBe(true);
    model.dispose();
  });
});

describe('bad model folders: each error names the file and the cause', () => {
  it('folder that does not exist / is not a model', () => {
    expect(errorOf(() => inspectModelFolder(path.join(tmp, 'nope')))).toMatch(/nope: not a folder/);
    fs.writeFileSync(path.join(tmp, 'notes.txt'), 'hello');
    expect(errorOf(() => loadModelFolder(tmp))).toMatch(/not a model folder \(no config\.json\)/);
  });

  it('config.json that is not JSON', () => {
    const dir = llamaCopy();
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "llama",');
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/model\/config\.json: not valid JSON/);
  });

  it('config.json without model_type', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => delete c.model_type);
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/config\.json: field "model_type" is missing/);
  });

  it('config.json with a missing or invalid field', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => delete c.hidden_size);
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/config\.json: field "hidden_size" is missing/);
    editJson(path.join(dir, 'config.json'), (c) => ((c.hidden_size = 16), (c.num_attention_heads = 'four')));
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/config\.json: field "num_attention_heads" is invalid/);
    editJson(path.join(dir, 'config.json'), (c) => ((c.num_attention_heads = 4), (c.num_key_value_heads = 3)));
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/config\.json: field "num_key_value_heads": 3 does not divide num_attention_heads 4/);
  });

  it('GPT-2 config.json with a missing field', () => {
    const dir = path.join(tmp, 'gpt2');
    cloneModelFolder(GPT2_DIR, dir);
    editJson(path.join(dir, 'config.json'), (c) => delete c.n_embd);
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/gpt2\/config\.json: field "n_embd" is missing/);
  });

  it('unknown model_type, naming the supported ones', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.model_type = 'mamba'));
    const msg = errorOf(() => loadModelFolder(dir));
    expect(msg).toMatch(/config\.json: model_type "mamba" is not supported \(supported: /);
    for (const t of SUPPORTED_MODEL_TYPES) expect(msg).toContain(t);
  });

  it('unsupported rope_scaling', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 }));
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/config\.json: field "rope_scaling": rope type "yarn" is not supported/);
  });

  it('missing tokenizer', () => {
    const dir = llamaCopy();
    fs.rmSync(path.join(dir, 'tokenizer.json'));
    expect(errorOf(() => inspectModelFolder(dir))).toMatch(/model: missing tokenizer: no tokenizer\.json/);
    expect(errorOf(() => loadModelFolder(dir))).toMatch(/missing tokenizer/);
  });

  it('missing weights', () => {
    const dir = llamaCopy();
    fs.rmSync(path.join(dir, 'model.safetensors'));
    expect(errorOf(() => loadModelFolder(dir))).toMatch(/model: no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('missing tensors (config asks for more layers than the file has)', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.num_hidden_layers = 3));
    const msg = errorOf(() => loadModelFolder(dir));
    expect(msg).toMatch(/weights \(model\.safetensors\) do not match .*config\.json/);
    expect(msg).toContain('missing tensor "model.layers.2.self_attn.q_proj.weight"');
  });

  it('extra tensors (config asks for fewer layers)', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.num_hidden_layers = 1));
    expect(errorOf(() => loadModel(dir))).toContain('unexpected tensor "model.layers.1.mlp.down_proj.weight" in model.safetensors');
  });

  it('shape mismatch against config.json', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.intermediate_size = 32));
    expect(errorOf(() => loadModel(dir))).toContain('tensor "model.layers.0.mlp.down_proj.weight" in model.safetensors has shape [16, 64], config.json implies [16, 32]');
  });

  it('a tied lm_head saved anyway is skipped; an untied model without lm_head is refused', () => {
    const dir = llamaCopy();
    editJson(path.join(dir, 'config.json'), (c) => (c.tie_word_embeddings = true));
    const { model } = loadModel(dir);
    expect(model.weights.get('lm_head.weight')).toBeUndefined();
    model.dispose();
    editJson(path.join(dir, 'config.json'), (c) => (c.tie_word_embeddings = false));
    rewriteWeights(dir, (ts) => ts.filter((t) => t.name !== 'lm_head.weight'));
    expect(errorOf(() => loadModel(dir))).toContain('missing tensor "lm_head.weight"');
  });

  it('non-float weights', () => {
    const dir = llamaCopy();
    const file = path.join(dir, 'model.safetensors');
    const r = SafetensorsReader.open(file);
    const norm = r.info('model.norm.weight');
    r.close();
    // Relabel one F32 [16] tensor as I32 [16] (same byte length) in a copy of the file.
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString()) as Record<string, { dtype: string }>;
    header['model.norm.weight'].dtype = 'I32';
    const text = JSON.stringify(header).padEnd(n, ' ');
    expect(Buffer.byteLength(text)).toBe(n);
    fs.rmSync(file);
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), Buffer.from(text), bytes.subarray(8 + n)]));
    expect(norm.byteLength).toBe(64);
    expect(errorOf(() => loadModel(dir))).toContain('tensor "model.norm.weight" in model.safetensors is I32');
  });

  it('tokenizer larger than the model vocabulary', () => {
    const dir = path.join(tmp, 'gpt2');
    cloneModelFolder(path.join(GOLDEN_MODELS, 'tiny-gpt2-old-names'), dir);
    fs.copyFileSync(path.join(GPT2_DIR, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    expect(errorOf(() => loadModelFolder(dir))).toMatch(/tokenizer\.json: tokenizer has 50257 tokens but .*config\.json vocab_size is 96/);
  });

  it('invalid generation_config.json', () => {
    const dir = path.join(tmp, 'gpt2');
    cloneModelFolder(GPT2_DIR, dir);
    editJson(path.join(dir, 'generation_config.json'), (c) => (c.eos_token_id = 'end'));
    expect(errorOf(() => loadModelFolder(dir))).toMatch(/generation_config\.json: field "eos_token_id" is invalid/);
  });
});
