/**
 * Opening a Hugging Face model folder (config.json, safetensors weights, tokenizer,
 * generation_config.json).
 *
 * - `inspectModelFolder(dir)`: the model card, from headers and small JSON files only (no weights
 *   read); it runs the same checks as loading, so a folder it accepts loads.
 * - `loadModel(dir)`: config + weights.
 * - `loadModelFolder(dir)`: everything generation needs.
 *
 * Every failure names the file and the cause.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readCheckpointLayout, type CheckpointLayout } from './checkpoint';
import { readConfigJson, ModelConfigError, type RawConfig } from './config';
import type { CausalLM, ModelDims } from './models/causal-lm';
import { loadWeights, matchCheckpoint } from './models/load-weights';
import { createModel } from './models/registry';
import {
  CHAT_TEMPLATE_FILE,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  TokenizerLoadError,
  checkTokenizerPresent,
  loadTokenizer,
  type ModelTokenizer,
} from './tokenizer';

export const GENERATION_CONFIG_FILE = 'generation_config.json';

const tokenIds = z.union([z.number().int(), z.array(z.number().int())]).nullish();

/** generation_config.json: the fields generation reads (others are ignored). */
const GenerationConfigSchema = z.object({
  eos_token_id: tokenIds,
  bos_token_id: z.number().int().nullish(),
  pad_token_id: z.number().int().nullish(),
  do_sample: z.boolean().nullish(),
  temperature: z.number().nonnegative().nullish(),
  top_k: z.number().int().nonnegative().nullish(),
  top_p: z.number().positive().max(1).nullish(),
  repetition_penalty: z.number().positive().nullish(),
  max_new_tokens: z.number().int().positive().nullish(),
});

/** Generation defaults of a model, with transformers' defaults where the folder is silent. */
export interface GenerationConfig {
  /** generation_config.json's eos ids (else config.json's), plus the tokenizer's EOS. */
  eosTokenIds: number[];
  bosTokenId: number | null;
  padTokenId: number | null;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  maxNewTokens: number | null;
}

export interface LoraTarget {
  /** Module path inside a layer, e.g. `self_attn.q_proj`, `mlp.c_proj`. */
  module: string;
  /** The name PEFT's `target_modules` matches (the last path component). */
  peftName: string;
  inFeatures: number;
  outFeatures: number;
  /** How many layers have it. */
  layers: number;
}

export interface ModelCard {
  dir: string;
  modelType: string;
  /** config.json `architectures[0]`, e.g. LlamaForCausalLM. */
  architecture: string;
  numParams: number;
  dims: ModelDims;
  /** config.json `torch_dtype` (null when absent). */
  torchDtype: string | null;
  /** Stored dtypes with tensor counts, e.g. { BF16: 272 }. */
  storedDtypes: Record<string, number>;
  weightFiles: string[];
  /** Every file in the folder (symlinks followed, as in the Hugging Face cache). */
  sizeOnDiskBytes: number;
  hasChatTemplate: boolean;
  loraTargets: LoraTarget[];
}

export interface LoadedModel {
  config: RawConfig;
  model: CausalLM;
}

export interface LoadedModelFolder extends LoadedModel {
  tokenizer: ModelTokenizer;
  generationConfig: GenerationConfig;
}

/** Model card of `dir` without reading weights; throws the errors loading would. */
export function inspectModelFolder(dir: string): ModelCard {
  const config = readConfigJson(dir);
  const model = createModel(config);
  const layout = readCheckpointLayout(dir);
  matchCheckpoint(model, layout, config.file);
  checkTokenizerPresent(dir);

  const storedDtypes: Record<string, number> = {};
  for (const t of layout.tensors.values()) storedDtypes[t.dtype] = (storedDtypes[t.dtype] ?? 0) + 1;
  const architectures = config.json.architectures;
  return {
    dir,
    modelType: config.modelType,
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : config.modelType,
    numParams: model.weights.numParams(),
    dims: model.dims,
    torchDtype: typeof config.json.torch_dtype === 'string' ? config.json.torch_dtype : null,
    storedDtypes,
    weightFiles: layout.files.map((f) => path.basename(f)),
    sizeOnDiskBytes: folderSize(dir),
    hasChatTemplate: hasChatTemplate(dir),
    loraTargets: loraTargets(model),
  };
}

/** Config and weights (F32, read one tensor at a time). */
export function loadModel(dir: string): LoadedModel {
  const config = readConfigJson(dir);
  const model = createModel(config);
  loadWeights(model, readCheckpointLayout(dir), config.file);
  return { config, model };
}

/** Config, tokenizer, generation defaults and weights. The cheap checks run before any weight is read. */
export function loadModelFolder(dir: string): LoadedModelFolder {
  const config = readConfigJson(dir);
  const skeleton = createModel(config);
  const layout: CheckpointLayout = readCheckpointLayout(dir);
  matchCheckpoint(skeleton, layout, config.file);
  const tokenizer = loadTokenizer(dir);
  if (tokenizer.vocabSize > skeleton.dims.vocabSize) {
    throw new ModelConfigError(
      `${path.join(dir, TOKENIZER_FILE)}: tokenizer has ${tokenizer.vocabSize} tokens but ${config.file} vocab_size is ${skeleton.dims.vocabSize}`,
    );
  }
  const generationConfig = readGenerationConfig(dir, config, tokenizer);
  loadWeights(skeleton, layout, config.file);
  return { config, model: skeleton, tokenizer, generationConfig };
}

export function readGenerationConfig(dir: string, config: RawConfig, tokenizer: ModelTokenizer | null): GenerationConfig {
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  let g: z.infer<typeof GenerationConfigSchema> = {};
  if (fs.existsSync(file)) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ModelConfigError(`${file}: not valid JSON (${(err as Error).message})`);
    }
    const parsed = GenerationConfigSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ModelConfigError(`${file}: field "${issue.path.join('.') || '(root)'}" is invalid (${issue.message})`);
    }
    g = parsed.data;
  }
  const fromConfig = tokenIds.safeParse(config.json.eos_token_id);
  const eos = new Set(asList(g.eos_token_id ?? (fromConfig.success ? fromConfig.data : null)));
  if (tokenizer?.eosTokenId != null) eos.add(tokenizer.eosTokenId);
  return {
    eosTokenIds: [...eos],
    bosTokenId: g.bos_token_id ?? tokenizer?.bosTokenId ?? null,
    padTokenId: g.pad_token_id ?? tokenizer?.padTokenId ?? null,
    doSample: g.do_sample ?? false,
    temperature: g.temperature ?? 1,
    topK: g.top_k ?? 50,
    topP: g.top_p ?? 1,
    repetitionPenalty: g.repetition_penalty ?? 1,
    maxNewTokens: g.max_new_tokens ?? null,
  };
}

function asList(v: number | number[] | null | undefined): number[] {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function hasChatTemplate(dir: string): boolean {
  if (fs.existsSync(path.join(dir, CHAT_TEMPLATE_FILE))) return true;
  const file = path.join(dir, TOKENIZER_CONFIG_FILE);
  if (!fs.existsSync(file)) return false;
  try {
    const t = (JSON.parse(fs.readFileSync(file, 'utf8')) as { chat_template?: unknown }).chat_template;
    return typeof t === 'string' || Array.isArray(t);
  } catch {
    throw new TokenizerLoadError(`${file}: not valid JSON`);
  }
}

function folderSize(dir: string): number {
  let total = 0;
  for (const name of fs.readdirSync(dir)) {
    try {
      const st = fs.statSync(path.join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // a dangling symlink (half-downloaded cache entry) adds nothing
    }
  }
  return total;
}

function loraTargets(model: CausalLM): LoraTarget[] {
  const byModule = new Map<string, LoraTarget>();
  for (const [name, slot] of model.linearModules()) {
    const module = name.replace(/^.*?\.\d+\./, ''); // drop "model.layers.N." / "transformer.h.N."
    const t = byModule.get(module);
    if (t) t.layers++;
    else {
      const { inFeatures, outFeatures } = slot.module;
      byModule.set(module, { module, peftName: module.split('.').at(-1)!, inFeatures, outFeatures, layers: 1 });
    }
  }
  return [...byModule.values()];
}
