/**
 * The bundled starter model (resources/starter-model) and its companion task
 * (resources/starter-task), as scripts/starter/ wrote them: a complete Hugging Face Llama folder
 * within 5 MB whose tokenizer.json loads in @huggingface/tokenizers and encodes exactly as the
 * Python BPE that trained it, and a reverse-the-list dataset whose answers follow its rule.
 * With the studio's loader present, the engine greedy-generates the same tokens and last-position
 * logits as the PyTorch reference (scripts/starter/reference.json, written by eval_torch.py).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_DIR = path.join(REPO, 'resources/starter-model');
const TASK_DIR = path.join(REPO, 'resources/starter-task');
const REFERENCE = path.join(REPO, 'scripts/starter/reference.json');
const LOADER = path.join(REPO, 'src/main/ml/loader.ts');

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const config = readJson(path.join(MODEL_DIR, 'config.json'));
const tokenizerJson = readJson(path.join(MODEL_DIR, 'tokenizer.json'));
const tokenizerConfig = readJson(path.join(MODEL_DIR, 'tokenizer_config.json'));
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);

interface ReferenceCase {
  prompt: string;
  prompt_ids: number[];
  generated_ids: number[];
  text: string;
  last_logits_first_16: number[];
  last_logits_argmax: number;
}
const reference = readJson(REFERENCE) as { cases: ReferenceCase[] };

interface TensorInfo {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The safetensors header: 8-byte little-endian length, then that many bytes of JSON. */
function readSafetensorsHeader(file: string): { header: Record<string, TensorInfo>; dataStart: number; fileSize: number } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const parsed = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  delete parsed.__metadata__;
  return { header: parsed as Record<string, TensorInfo>, dataStart: 8 + n, fileSize: buf.length };
}

function encode(text: string): number[] {
  return tokenizer.encode(text, { add_special_tokens: true }).ids;
}

describe('starter model folder', () => {
  const files = [
    'config.json',
    'generation_config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
    'special_tokens_map.json',
    'README.md',
  ];

  it('has every file of a Hugging Face model folder and stays within 5 MB', () => {
    const present = fs.readdirSync(MODEL_DIR).sort();
    expect(present).toEqual([...files].sort());
    const total = present.reduce((sum, f) => sum + fs.statSync(path.join(MODEL_DIR, f)).size, 0);
    expect(total).toBeLessThanOrEqual(5 * 1024 * 1024);
  });

  it('has a Llama config.json with grouped-query attention and tied embeddings', () => {
    expect(config.model_type).toBe('llama');
    expect(config.architectures).toEqual(['LlamaForCausalLM']);
    expect(config.num_hidden_layers).toBe(4);
    expect(config.hidden_size).toBeGreaterThanOrEqual(128);
    expect(config.hidden_size % config.num_attention_heads).toBe(0);
    expect(config.num_key_value_heads).toBeLessThan(config.num_attention_heads);
    expect(config.num_attention_heads % config.num_key_value_heads).toBe(0);
    expect(config.head_dim).toBe(config.hidden_size / config.num_attention_heads);
    for (const key of ['intermediate_size', 'rms_norm_eps', 'rope_theta', 'max_position_embeddings']) {
      expect(config[key], key).toBeGreaterThan(0);
    }
    expect(config.tie_word_embeddings).toBe(true);
    expect(config.torch_dtype).toBe('float16');
    expect(config.hidden_act).toBe('silu');
  });

  it('names the chat special tokens as bos/eos/pad, consistently across the files', () => {
    const im_start = tokenizer.token_to_id('<|im_start|>');
    const im_end = tokenizer.token_to_id('<|im_end|>');
    const eot = tokenizer.token_to_id('<|endoftext|>');
    expect([eot, im_start, im_end]).toEqual([0, 1, 2]);
    expect(config.bos_token_id).toBe(im_start);
    expect(config.eos_token_id).toBe(im_end);
    expect(config.pad_token_id).toBe(eot);
    expect(config.vocab_size).toBe(tokenizer.get_vocab(true).size);
    const generation = readJson(path.join(MODEL_DIR, 'generation_config.json'));
    expect(generation.eos_token_id).toEqual([im_end, eot]);
    expect(tokenizerConfig.bos_token).toBe('<|im_start|>');
    expect(tokenizerConfig.eos_token).toBe('<|im_end|>');
    expect(tokenizerConfig.pad_token).toBe('<|endoftext|>');
    const special = readJson(path.join(MODEL_DIR, 'special_tokens_map.json'));
    expect(special.eos_token.content).toBe('<|im_end|>');
  });

  it('renders conversations in ChatML with its chat_template', () => {
    const rendered = new Template(tokenizerConfig.chat_template).render({
      messages: [
        { role: 'user', content: 'What is the last word? cat dog sun' },
        { role: 'assistant', content: 'sun' },
      ],
      add_generation_prompt: false,
    });
    expect(rendered).toBe('<|im_start|>user\nWhat is the last word? cat dog sun<|im_end|>\n<|im_start|>assistant\nsun<|im_end|>\n');
    const prompt = new Template(tokenizerConfig.chat_template).render({
      messages: [{ role: 'user', content: 'hi' }],
      add_generation_prompt: true,
    });
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
  });

  it('lists every Llama tensor with its shape in model.safetensors, F16, packed and covering the file', () => {
    const { header, dataStart, fileSize } = readSafetensorsHeader(path.join(MODEL_DIR, 'model.safetensors'));
    const H = config.hidden_size;
    const I = config.intermediate_size;
    const kv = config.num_key_value_heads * config.head_dim;
    const expected: Record<string, number[]> = {
      'model.embed_tokens.weight': [config.vocab_size, H],
      'model.norm.weight': [H],
    };
    for (let i = 0; i < config.num_hidden_layers; i++) {
      const p = `model.layers.${i}`;
      Object.assign(expected, {
        [`${p}.input_layernorm.weight`]: [H],
        [`${p}.post_attention_layernorm.weight`]: [H],
        [`${p}.self_attn.q_proj.weight`]: [config.num_attention_heads * config.head_dim, H],
        [`${p}.self_attn.k_proj.weight`]: [kv, H],
        [`${p}.self_attn.v_proj.weight`]: [kv, H],
        [`${p}.self_attn.o_proj.weight`]: [H, config.num_attention_heads * config.head_dim],
        [`${p}.mlp.gate_proj.weight`]: [I, H],
        [`${p}.mlp.up_proj.weight`]: [I, H],
        [`${p}.mlp.down_proj.weight`]: [H, I],
      });
    }
    expect(Object.keys(header).sort()).toEqual(Object.keys(expected).sort()); // tied: no lm_head.weight
    const spans: [number, number][] = [];
    let params = 0;
    for (const [name, info] of Object.entries(header)) {
      expect(info.shape, name).toEqual(expected[name]);
      expect(info.dtype, name).toBe('F16');
      const count = info.shape.reduce((a, b) => a * b, 1);
      expect(info.data_offsets[1] - info.data_offsets[0], name).toBe(2 * count);
      spans.push(info.data_offsets);
      params += count;
    }
    spans.sort((a, b) => a[0] - b[0]);
    spans.forEach(([begin], i) => expect(begin).toBe(i === 0 ? 0 : spans[i - 1][1]));
    expect(dataStart + spans.at(-1)![1]).toBe(fileSize);
    expect(params).toBeGreaterThan(1_000_000);
    expect(params).toBeLessThan(2_000_000);
  });
});

describe('starter tokenizer (byte-level BPE)', () => {
  it('is a GPT-2-style byte-level BPE with trained merges', () => {
    expect(tokenizerJson.model.type).toBe('BPE');
    expect(tokenizerJson.pre_tokenizer.type).toBe('ByteLevel');
    expect(tokenizerJson.decoder.type).toBe('ByteLevel');
    expect(tokenizerJson.model.merges.length).toBeGreaterThan(300);
    expect(tokenizerJson.added_tokens.map((t: { content: string }) => t.content)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  });

  it('round-trips text: special tokens, digits, whitespace, newlines, non-Latin text', () => {
    const texts = [
      'The red cat is in the park.',
      '<|im_start|>user\nRepeat these words: cat dog sun<|im_end|>\n<|im_start|>assistant\n',
      '<|endoftext|>Tom has 3 apples.<|endoftext|>',
      'Numbers 0123456789 and 2024-11-28',
      '  two leading spaces, tabs\tand trailing   ',
      'line one\nline two\n\n\nline five\r\n',
      'héllo wörld, Ελληνικά, русский, 日本語, emoji 🙂',
      "It's the dog's ball; we'll see.",
    ];
    for (const text of texts) {
      expect(tokenizer.decode(encode(text), { skip_special_tokens: false })).toBe(text);
    }
  });

  it('keeps special tokens whole, digits one per token, and adds no BOS', () => {
    const ids = encode('<|im_start|>user\n12345<|im_end|>');
    expect(ids[0]).toBe(1);
    expect(ids.at(-1)).toBe(2);
    expect(tokenizer.tokenize('12345', { add_special_tokens: false })).toEqual(['1', '2', '3', '4', '5']);
    expect(encode('cat')[0]).not.toBe(config.bos_token_id);
  });

  it('encodes exactly as the Python BPE that trained it (scripts/starter/reference.json)', () => {
    expect(reference.cases.length).toBeGreaterThanOrEqual(4);
    for (const c of reference.cases) {
      expect(encode(c.prompt), c.prompt).toEqual(c.prompt_ids);
      expect(tokenizer.decode(c.generated_ids, { skip_special_tokens: false })).toBe(c.text);
    }
  });

  it('has every word of the companion task as one token, with and without a leading space', () => {
    const words = new Set<string>();
    for (const line of fs.readFileSync(path.join(TASK_DIR, 'test.jsonl'), 'utf8').trim().split('\n')) {
      const answer: string = JSON.parse(line).messages[1].content;
      answer.split(' ').forEach((w) => words.add(w));
    }
    for (const w of words) {
      expect(encode(w), w).toHaveLength(1);
      expect(encode(` ${w}`), w).toHaveLength(1);
    }
  });
});

describe('starter task (reverse a list of words)', () => {
  const load = (name: string) =>
    fs
      .readFileSync(path.join(TASK_DIR, name), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
  const train = load('train.jsonl');
  const test = load('test.jsonl');
  const PREFIX = 'Reverse the order of these words: ';

  it('has 2000 train and 200 held-out rows in OpenAI messages shape whose answers follow the rule', () => {
    expect(train).toHaveLength(2000);
    expect(test).toHaveLength(200);
    for (const row of [...train, ...test]) {
      expect(row.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      const [user, assistant] = row.messages.map((m) => m.content);
      expect(user.startsWith(PREFIX)).toBe(true);
      const words = user.slice(PREFIX.length).split(' ');
      expect(words.length).toBeGreaterThanOrEqual(3);
      expect(words.length).toBeLessThanOrEqual(6);
      expect(new Set(words).size).toBe(words.length);
      expect(assistant).toBe([...words].reverse().join(' '));
    }
  });

  it('shares no word list between train and test', () => {
    const seen = new Set(train.map((r) => r.messages[0].content));
    expect(test.filter((r) => seen.has(r.messages[0].content))).toEqual([]);
    expect(seen.size).toBe(train.length);
  });

  it('has a README naming the metric', () => {
    const readme = fs.readFileSync(path.join(TASK_DIR, 'README.md'), 'utf8');
    expect(readme).toMatch(/exact match/i);
  });
});

describe.skipIf(!fs.existsSync(LOADER))('starter model in the studio engine (src/main/ml/loader.ts)', () => {
  it('has a model card with the seven LoRA-targetable projections in every layer', async () => {
    const { inspectModelFolder } = await import('../../src/main/ml/loader');
    const card = inspectModelFolder(MODEL_DIR);
    expect(card.modelType).toBe('llama');
    expect(card.storedDtypes).toEqual({ F16: 4 * 9 + 2 });
    expect(card.hasChatTemplate).toBe(true);
    expect(card.loraTargets.map((t) => t.peftName).sort()).toEqual(
      ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    );
    expect(card.loraTargets.every((t) => t.layers === 4)).toBe(true);
  });

  it('loads and greedy-generates the PyTorch reference tokens, with matching logits', async () => {
    const tf = await import('@tensorflow/tfjs');
    const { loadModelFolder } = await import('../../src/main/ml/loader');
    const { generate } = await import('../../src/main/ml/generate');
    const loaded = loadModelFolder(MODEL_DIR);
    try {
      expect(loaded.generationConfig.eosTokenIds.sort()).toEqual([0, 2]);
      for (const c of reference.cases) {
        expect(loaded.tokenizer.encode(c.prompt)).toEqual(c.prompt_ids);
        const logits = tf.tidy(() => {
          const out = loaded.model.forward(tf.tensor2d([c.prompt_ids], [1, c.prompt_ids.length], 'int32'), { lastPositionOnly: true });
          return Array.from(out.reshape([-1]).dataSync());
        });
        logits.slice(0, 16).forEach((v, i) => expect(Math.abs(v - c.last_logits_first_16[i]), `${c.prompt} logit ${i}`).toBeLessThan(1e-4));
        expect(logits.indexOf(Math.max(...logits))).toBe(c.last_logits_argmax);
        const res = await generate(loaded.model, [c.prompt_ids], {
          maxNewTokens: 16,
          eosTokenIds: loaded.generationConfig.eosTokenIds,
        });
        const tokens = res.tokens[0].filter((t) => !loaded.generationConfig.eosTokenIds.includes(t));
        expect(tokens, c.prompt).toEqual(c.generated_ids);
      }
    } finally {
      loaded.model.dispose();
    }
  });
});
