/**
 * The tokenizer half of a GGUF, as convert_hf_to_gguf.py and gguf-py's vocab.py build it:
 *
 * - SentencePiece (`tokenizer.model` present; Llama 2, Mistral): tokenizer.ggml.model "llama",
 *   pieces with their scores and types, added tokens as USER_DEFINED / CONTROL.
 * - Llama-style BPE with byte fallback in tokenizer.json but no tokenizer.model (LlamaHfVocab):
 *   model "llama"; BYTE for <0xNN>, CONTROL for special ids. Scores: the converter writes -1000
 *   for every token, which leaves llama.cpp's SentencePiece tokenizer merging left to right; we
 *   write −(rank of the merge that creates the token), which reproduces the merge order of the
 *   original model (on Llama 2 it orders tokens as tokenizer.model's scores do).
 * - Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): model "gpt2", tokens with types, merges, and
 *   tokenizer.ggml.pre found like get_vocab_base_pre: the sha256 of the token ids of a fixed
 *   probe text names the pre-tokenizer.
 *
 * Then SpecialVocab: bos/eos/unk/sep/pad ids (tokenizer_config.json's tokens looked up in
 * tokenizer.json's added_tokens, then config.json's *_token_id), add_bos/add_eos (post-processor,
 * overridden by tokenizer_config.json), and tokenizer.chat_template — the training template.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GgufValueType, TokenType } from '../ml/gguf/constants';
import type { GgufMetadata } from '../ml/gguf/writer';
import { loadTokenizer } from '../ml/tokenizer';
import { readSpmModel } from './spm-model';

/** Text whose token ids identify a BPE pre-tokenizer (convert_hf_to_gguf.py get_vocab_base_pre). */
export const CHKTXT =
  "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/** chkhsh → tokenizer.ggml.pre, for the families LoRA Studio exports (from convert_hf_to_gguf.py). */
export const KNOWN_PRE: Record<string, string> = {
  '0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5': 'llama-bpe', // Meta-Llama-3
  c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d: 'smaug-bpe',
  '3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454': 'gpt-2',
  e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea: 'qwen2', // Qwen1.5 … Qwen2.5
  b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5: 'deepseek-r1-qwen',
  '855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249': 'smollm', // SmolLM, SmolLM2
  '63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e': 'tekken', // Mistral Nemo
  '049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754': 'deepseek-llm',
  '347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821': 'deepseek-coder',
  '35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34': 'starcoder',
  fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085: 'phi-2',
  ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e: 'gpt-4o',
};

export interface VocabOptions {
  /** The base model folder (tokenizer files, config.json). */
  modelDir: string;
  config: Record<string, unknown>;
  family: 'llama' | 'qwen2' | 'gpt2';
  /** The training chat template; null keeps the base model's own. */
  chatTemplate: string | null;
}

export interface VocabSummary {
  model: 'llama' | 'gpt2';
  pre: string | null;
  tokens: number;
  merges: number;
  specialIds: Record<string, number>;
  addBos: boolean | null;
  chatTemplate: boolean;
  notes: string[];
}

type Json = Record<string, unknown>;

function readJson(file: string): Json | null {
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

/** TextModel.does_token_look_special */
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** Writes the tokenizer.* keys into `meta` (in gguf-py's order) and says what it wrote. */
export function writeGgufVocab(meta: GgufMetadata, opts: VocabOptions): VocabSummary {
  const dir = opts.modelDir;
  const tj = readJson(path.join(dir, 'tokenizer.json'));
  const tc = readJson(path.join(dir, 'tokenizer_config.json'));
  const vocabSize = typeof opts.config.vocab_size === 'number' ? opts.config.vocab_size : null;
  const notes: string[] = [];
  const spmFile = path.join(dir, 'tokenizer.model');
  const model = (tj?.model ?? {}) as Json;
  const added = ((tj?.added_tokens ?? []) as AddedToken[]).filter((t) => typeof t.id === 'number');

  let kind: 'spm' | 'llama-hf' | 'bpe';
  if (opts.family !== 'gpt2' && fs.existsSync(spmFile)) kind = 'spm';
  else if (opts.family === 'llama' && tj && model.type === 'BPE' && model.byte_fallback === true && (tj.decoder as Json | undefined)?.type === 'Sequence') kind = 'llama-hf';
  else kind = 'bpe';
  if (!tj && kind !== 'spm') throw new Error(`${dir}: no tokenizer.json (GGUF export needs the fast tokenizer file)`);

  let tokens: string[];
  let scores: number[] | null = null;
  let types: number[];
  let merges: string[] = [];
  let pre: string | null = null;

  if (kind === 'spm') {
    const pieces = readSpmModel(spmFile);
    const n = vocabSize ?? pieces.length;
    if (pieces.length > n) throw new Error(`${spmFile}: ${pieces.length} pieces but config.json vocab_size is ${n}`);
    tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
    scores = new Array(n).fill(-10000);
    types = new Array(n).fill(TokenType.UNUSED);
    pieces.forEach((p, i) => {
      tokens[i] = p.piece;
      scores![i] = p.score;
      types[i] = p.type;
    });
    const addedJson = readJson(path.join(dir, 'added_tokens.json')) as Record<string, number> | null;
    for (const [text, id] of Object.entries(addedJson ?? {})) {
      if (id >= n) continue;
      tokens[id] = text;
      scores[id] = -1000;
      types[id] = TokenType.USER_DEFINED;
    }
    for (const [idText, t] of Object.entries((tc?.added_tokens_decoder ?? {}) as Record<string, { content: string; special?: boolean }>)) {
      const id = Number(idText);
      if (!(id < n)) continue;
      const special = t.special || looksSpecial(t.content);
      types[id] = special ? TokenType.CONTROL : TokenType.USER_DEFINED;
      scores[id] = -1000;
      tokens[id] = special ? t.content : t.content.replaceAll('▁', ' ');
    }
    pre = 'default';
  } else if (kind === 'llama-hf') {
    const vocab = model.vocab as Record<string, number>;
    const base = Object.keys(vocab).length;
    const specialTexts = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'].map((k) => tokenContent(tc?.[k])).filter((x): x is string => !!x);
    for (const extra of (tc?.additional_special_tokens ?? []) as unknown[]) {
      const c = tokenContent(extra);
      if (c) specialTexts.push(c);
    }
    const specialIds = new Set(specialTexts.map((t) => vocab[t] ?? added.find((a) => a.content === t)?.id).filter((x): x is number => x !== undefined));
    const rank = mergeRanks(model.merges);
    const byId: string[] = [];
    for (const [t, id] of Object.entries(vocab)) byId[id] = t;
    tokens = [];
    scores = [];
    types = [];
    for (let id = 0; id < base; id++) {
      const t = byId[id] ?? `[PAD${id}]`;
      tokens.push(t);
      scores.push(rank.has(t) ? -(rank.get(t) as number) : -1000);
      types.push(/^<0x[0-9A-Fa-f]{2}>$/.test(t) ? TokenType.BYTE : specialIds.has(id) ? TokenType.CONTROL : TokenType.NORMAL);
    }
    for (const a of [...added].sort((x, y) => x.id - y.id)) {
      if (a.id < base) continue;
      while (tokens.length < a.id) {
        tokens.push(`[PAD${tokens.length}]`);
        scores.push(-1000);
        types.push(TokenType.UNUSED);
      }
      tokens.push(a.content);
      scores.push(-1000);
      types.push(specialIds.has(a.id) ? TokenType.CONTROL : TokenType.USER_DEFINED);
    }
    if (vocabSize !== null) {
      while (tokens.length < vocabSize) {
        tokens.push(`[PAD${tokens.length}]`);
        scores.push(-1000);
        types.push(TokenType.UNUSED);
      }
    }
    pre = 'default';
    notes.push('no tokenizer.model: token scores come from the merge ranks in tokenizer.json');
  } else {
    const vocab = (model.vocab ?? {}) as Record<string, number>;
    const n = vocabSize ?? Math.max(...Object.values(vocab), ...added.map((a) => a.id)) + 1;
    const byId = new Map<number, string>();
    for (const [t, id] of Object.entries(vocab)) byId.set(id, t);
    const addedById = new Map(added.map((a) => [a.id, a]));
    for (const a of added) byId.set(a.id, a.content);
    const decoder = (tc?.added_tokens_decoder ?? {}) as Record<string, { special?: boolean }>;
    tokens = [];
    types = [];
    for (let i = 0; i < n; i++) {
      const t = byId.get(i);
      if (t === undefined) {
        tokens.push(`[PAD${i}]`);
        types.push(TokenType.UNUSED);
      } else if (addedById.has(i)) {
        const special = addedById.get(i)?.special || decoder[String(i)]?.special || looksSpecial(t);
        tokens.push(special ? t : t.replaceAll('▁', ' '));
        types.push(special ? TokenType.CONTROL : TokenType.USER_DEFINED);
      } else {
        tokens.push(t);
        types.push(TokenType.NORMAL);
      }
    }
    merges = mergeStrings(model.merges);
    if (merges.length === 0) merges = readMergesTxt(path.join(dir, 'merges.txt'));
    pre = bpePreTokenizer(dir, notes);
  }

  meta.string('tokenizer.ggml.model', kind === 'bpe' ? 'gpt2' : 'llama');
  if (pre) meta.string('tokenizer.ggml.pre', pre);
  meta.array('tokenizer.ggml.tokens', GgufValueType.STRING, tokens);
  if (scores) meta.array('tokenizer.ggml.scores', GgufValueType.FLOAT32, scores);
  meta.array('tokenizer.ggml.token_type', GgufValueType.INT32, types);
  if (merges.length) meta.array('tokenizer.ggml.merges', GgufValueType.STRING, merges);

  const special = specialVocab(tj, tc, readJson(path.join(dir, 'config.json')), kind === 'bpe' ? null : tokens.length);
  const idKeys: Record<string, string> = { bos: 'bos_token_id', eos: 'eos_token_id', unk: 'unknown_token_id', sep: 'seperator_token_id', pad: 'padding_token_id', cls: 'cls_token_id', mask: 'mask_token_id' };
  for (const [typ, id] of Object.entries(special.ids)) meta.uint32(`tokenizer.ggml.${idKeys[typ]}`, id);
  for (const [typ, v] of Object.entries(special.add)) meta.bool(`tokenizer.ggml.add_${typ}_token`, v);
  if (opts.family === 'llama' && tc && typeof tc.add_prefix_space === 'boolean') meta.bool('tokenizer.ggml.add_space_prefix', tc.add_prefix_space);
  const template = opts.chatTemplate ?? baseChatTemplate(dir, tc);
  if (template) meta.string('tokenizer.chat_template', template);

  return {
    model: kind === 'bpe' ? 'gpt2' : 'llama',
    pre,
    tokens: tokens.length,
    merges: merges.length,
    specialIds: special.ids,
    addBos: special.add.bos ?? null,
    chatTemplate: template !== null,
    notes,
  };
}

/** tokenizer.json merges as "a b" strings (pairs → spaces inside a part encoded as U+0120+). */
function mergeStrings(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0) return [];
  if (typeof raw[0] === 'string') return raw as string[];
  return (raw as [string, string][]).map((pair) => pair.map((part) => [...part].map((c) => (c === ' ' ? String.fromCharCode(' '.charCodeAt(0) + 256) : c)).join('')).join(' '));
}

function mergeRanks(raw: unknown): Map<string, number> {
  const rank = new Map<string, number>();
  const list = Array.isArray(raw) ? raw : [];
  list.forEach((m, i) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : (m as [string, string]);
    const t = a + b;
    if (!rank.has(t)) rank.set(t, i);
  });
  return rank;
}

function readMergesTxt(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: string[] = [];
  lines.forEach((line, i) => {
    const t = line.trim();
    if (!t || (i === 0 && t.startsWith('#'))) return;
    const parts = t.split(/\s+/);
    if (parts.length === 2) out.push(`${parts[0]} ${parts[1]}`);
  });
  return out;
}

/** sha256 of str(token ids) of CHKTXT, looked up in KNOWN_PRE. */
export function bpePreTokenizerHash(dir: string): string {
  const ids = loadTokenizer(dir).encode(CHKTXT);
  return crypto.createHash('sha256').update(`[${ids.join(', ')}]`).digest('hex');
}

function bpePreTokenizer(dir: string, notes: string[]): string | null {
  let hash: string;
  try {
    hash = bpePreTokenizerHash(dir);
  } catch (err) {
    notes.push(`tokenizer.ggml.pre not written: ${(err as Error).message}`);
    return null;
  }
  const pre = KNOWN_PRE[hash];
  if (!pre) notes.push(`tokenizer.ggml.pre not written: the BPE pre-tokenizer was not recognised (chkhsh ${hash}); llama.cpp will use its default one`);
  return pre ?? null;
}

function baseChatTemplate(dir: string, tc: Json | null): string | null {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const t = tc?.chat_template;
  return typeof t === 'string' ? t : null;
}

const SPECIAL_TYPES = ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'] as const;

/** gguf-py SpecialVocab: special token ids and add_* flags. */
export function specialVocab(tj: Json | null, tc: Json | null, config: Json | null, nVocab: number | null): { ids: Record<string, number>; add: Record<string, boolean> } {
  const ids: Record<string, number> = {};
  const add: Record<string, boolean> = {};
  const set = (typ: string, id: unknown) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || typ in ids) return;
    if (nVocab !== null && id >= nVocab) return;
    ids[typ] = id;
  };
  if (tj && tc) {
    const added = (tj.added_tokens ?? []) as AddedToken[];
    const bos = tokenContent(tc.bos_token) ?? tokenContent(tc.cls_token);
    const eos = tokenContent(tc.eos_token) ?? tokenContent(tc.sep_token);
    const post = tj.post_processor as Json | null | undefined;
    for (const p of (post?.processors as Json[] | undefined) ?? (post ? [post] : [])) {
      if (p.type !== 'TemplateProcessing') continue;
      const single = (p.single ?? []) as Json[];
      if (single.length > 1) {
        const first = ((single[0].SpecialToken ?? {}) as Json).id;
        if (first) add.bos = first === bos;
        const last = ((single[single.length - 1].SpecialToken ?? {}) as Json).id;
        if (last) add.eos = last === eos;
      }
    }
    for (const typ of SPECIAL_TYPES) {
      const flag = tc[`add_${typ}_token`];
      if (typeof flag === 'boolean') add[typ] = flag;
      const content = tokenContent(tc[`${typ}_token`]);
      if (content === null) continue;
      set(typ, added.find((a) => a.content === content)?.id);
    }
  }
  for (const typ of SPECIAL_TYPES) set(typ, config?.[`${typ}_token_id`]);
  return { ids, add };
}
