/**
 * PEFT LoRA adapter folders as files: adapter_config.json + adapter_model.safetensors
 * (../shared/docs/formats.md). Reading takes adapters written by PEFT and by the tools built on it
 * (LLaMA-Factory, Unsloth, axolotl): tensor names with or without the `base_model.model.` prefix
 * and with an adapter-name infix (`lora_A.default.weight`). Every tensor is classified, so a
 * refusal can say exactly what the adapter carries that a LoRA-only causal LM cannot use.
 *
 * Writing is canonical PEFT: config through Python-exact JSON (pyjson.ts), tensors sorted by name
 * with `{"format": "pt"}` metadata — what `PeftModel.save_pretrained` produces byte for byte.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loraScale, patternKeyFor } from '../ml/lora/spec';
import { SafetensorsReader, writeSafetensors, type TensorToWrite, type WritableDType } from '../ml/safetensors';
import { writeFileAtomic } from '../storage/files';
import { PyFloat, PyJsonError, dumpsPyJson, parsePyJson, pyFloat, pyNumber, toPlain, type PyJson, type PyJsonObject } from './pyjson';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export class AdapterFilesError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'AdapterFilesError';
  }
}

/** The adapter_config.json fields that decide how the weights apply. */
const ConfigSchema = z
  .object({
    peft_type: z.string({ error: 'is missing' }),
    task_type: z.string().nullish(),
    base_model_name_or_path: z.string().nullish(),
    r: z.number().int().positive(),
    lora_alpha: z.number().positive(),
    lora_dropout: z.number().min(0).max(1).nullish(),
    target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
    fan_in_fan_out: z.boolean().nullish(),
    use_rslora: z.boolean().nullish(),
    use_dora: z.boolean().nullish(),
    layers_to_transform: z.union([z.array(z.number().int().nonnegative()), z.number().int().nonnegative()]).nullish(),
    rank_pattern: z.record(z.string(), z.number().int().positive()).nullish(),
    alpha_pattern: z.record(z.string(), z.number().positive()).nullish(),
    modules_to_save: z.array(z.string()).nullish(),
    bias: z.string().nullish(),
    lora_bias: z.boolean().nullish(),
    layer_replication: z.unknown().nullish(),
    trainable_token_indices: z.unknown().nullish(),
    init_lora_weights: z.union([z.boolean(), z.string()]).nullish(),
  })
  .loose();

export interface LoraSettings {
  peftType: string;
  taskType: string | null;
  baseModel: string | null;
  r: number;
  alpha: number;
  dropout: number;
  /** A list of module names, or a regex string (PEFT matches it against full module paths). */
  targets: string[] | string | null;
  layers: number[] | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  rslora: boolean;
  dora: boolean;
  fanInFanOut: boolean;
  bias: string;
  loraBias: boolean;
  modulesToSave: string[];
  layerReplication: boolean;
  trainableTokens: boolean;
}

export interface AdapterConfig {
  file: string;
  /** The config as parsed, ints and floats kept apart, for exact re-serialisation. */
  tree: PyJsonObject;
  settings: LoraSettings;
}

export function readAdapterConfig(dir: string): AdapterConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) throw new AdapterFilesError(`${dir}: not a PEFT adapter folder (no ${ADAPTER_CONFIG})`);
  let tree: PyJson;
  try {
    tree = parsePyJson(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AdapterFilesError(`${file}: not valid JSON (${err instanceof PyJsonError ? err.message : String(err)})`);
  }
  if (!tree || typeof tree !== 'object' || Array.isArray(tree) || tree instanceof PyFloat) {
    throw new AdapterFilesError(`${file}: not a JSON object`);
  }
  return { file, tree: tree as PyJsonObject, settings: settingsFromTree(file, tree as PyJsonObject) };
}

export function settingsFromTree(file: string, tree: PyJsonObject): LoraSettings {
  const parsed = ConfigSchema.safeParse(toPlain(tree));
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    const field = i.path.join('.') || '(root)';
    throw new AdapterFilesError(`${file}: field "${field}" ${i.message === 'is missing' ? 'is missing' : `is invalid (${i.message})`}`);
  }
  const c = parsed.data;
  const layers = c.layers_to_transform === null || c.layers_to_transform === undefined ? null : [c.layers_to_transform].flat();
  return {
    peftType: c.peft_type,
    taskType: c.task_type ?? null,
    baseModel: c.base_model_name_or_path ?? null,
    r: c.r,
    alpha: c.lora_alpha,
    dropout: c.lora_dropout ?? 0,
    targets: c.target_modules ?? null,
    layers,
    rankPattern: c.rank_pattern ?? {},
    alphaPattern: c.alpha_pattern ?? {},
    rslora: c.use_rslora ?? false,
    dora: c.use_dora ?? false,
    fanInFanOut: c.fan_in_fan_out ?? false,
    bias: c.bias ?? 'none',
    loraBias: c.lora_bias ?? false,
    modulesToSave: c.modules_to_save ?? [],
    layerReplication: c.layer_replication !== null && c.layer_replication !== undefined,
    trainableTokens: c.trainable_token_indices !== null && c.trainable_token_indices !== undefined,
  };
}

/** r and alpha of one module: rank_pattern / alpha_pattern override r / lora_alpha (PEFT's rule). */
export function moduleRankAlpha(s: LoraSettings, modulePath: string): { r: number; alpha: number } {
  const rk = patternKeyFor(modulePath, Object.keys(s.rankPattern));
  const ak = patternKeyFor(modulePath, Object.keys(s.alphaPattern));
  return { r: rk === undefined ? s.r : s.rankPattern[rk], alpha: ak === undefined ? s.alpha : s.alphaPattern[ak] };
}

// ---- tensor names ---------------------------------------------------------------------------

export type TensorKind =
  | { kind: 'lora'; module: string; which: 'A' | 'B' }
  | { kind: 'lora-bias'; module: string }
  | { kind: 'embedding-lora'; module: string }
  | { kind: 'dora'; module: string }
  | { kind: 'full'; module: string };

const PREFIX = /^base_model\.model\./;

/** What a tensor in adapter_model.safetensors is. */
export function classifyTensor(name: string): TensorKind {
  const bare = name.replace(PREFIX, '');
  let m = /^(.+)\.lora_(A|B)(?:\.[A-Za-z0-9_-]+)?\.weight$/.exec(bare);
  if (m) return { kind: 'lora', module: m[1], which: m[2] as 'A' | 'B' };
  m = /^(.+)\.lora_(?:A|B)(?:\.[A-Za-z0-9_-]+)?\.bias$/.exec(bare);
  if (m) return { kind: 'lora-bias', module: m[1] };
  m = /^(.+)\.lora_embedding_(?:A|B)(?:\.[A-Za-z0-9_-]+)?$/.exec(bare);
  if (m) return { kind: 'embedding-lora', module: m[1] };
  m = /^(.+)\.lora_magnitude_vector(?:\.[A-Za-z0-9_-]+)?(?:\.weight)?$/.exec(bare);
  if (m) return { kind: 'dora', module: m[1] };
  return { kind: 'full', module: bare.replace(/\.(?:modules_to_save\.[A-Za-z0-9_-]+\.)?(weight|bias)$/, '') };
}

/** PEFT's tensor name for a factor. */
export function peftTensorName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

// ---- weights --------------------------------------------------------------------------------

export interface LoraModuleWeights {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  name: string;
  r: number;
  alpha: number;
  inFeatures: number;
  outFeatures: number;
  /** lora_A [r, in], row-major */
  a: Float32Array;
  /** lora_B [out, r], row-major */
  b: Float32Array;
}

export interface AdapterWeights {
  dir: string;
  config: AdapterConfig;
  /** Sorted by module name. */
  modules: LoraModuleWeights[];
  /** Stored dtype of the factors (the first one's; PEFT writes one dtype). */
  dtype: string;
}

export function moduleScale(m: Pick<LoraModuleWeights, 'r' | 'alpha'>, rslora: boolean): number {
  return loraScale(m.alpha, m.r, rslora);
}

/** Tensors of an adapter file, grouped: LoRA factors by module, everything else listed. */
export interface AdapterInventory {
  file: string;
  factors: Map<string, { a?: { name: string; shape: number[]; dtype: string }; b?: { name: string; shape: number[]; dtype: string } }>;
  other: { name: string; shape: number[]; kind: TensorKind['kind']; module: string }[];
}

export function inventoryAdapter(dir: string): AdapterInventory {
  const file = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(file)) {
    const bin = path.join(dir, 'adapter_model.bin');
    if (fs.existsSync(bin)) throw new AdapterFilesError(`${dir}: only adapter_model.bin (a pickle) is present; LoRA Studio reads adapter weights from ${ADAPTER_WEIGHTS} only`);
    throw new AdapterFilesError(`${dir}: ${ADAPTER_WEIGHTS} is missing`);
  }
  const reader = SafetensorsReader.open(file);
  try {
    const inv: AdapterInventory = { file, factors: new Map(), other: [] };
    for (const [name, info] of reader.tensors) {
      const k = classifyTensor(name);
      if (k.kind === 'lora') {
        const e = inv.factors.get(k.module) ?? {};
        e[k.which === 'A' ? 'a' : 'b'] = { name, shape: info.shape, dtype: info.dtype };
        inv.factors.set(k.module, e);
      } else {
        inv.other.push({ name, shape: info.shape, kind: k.kind, module: k.module });
      }
    }
    return inv;
  } finally {
    reader.close();
  }
}

/**
 * Reads every factor of an adapter folder whose files were already checked (library adapters).
 * Throws when a module lacks a factor or the shapes disagree with each other or with the config.
 */
export function readAdapterWeights(dir: string, config: AdapterConfig = readAdapterConfig(dir)): AdapterWeights {
  const inv = inventoryAdapter(dir);
  const problems: string[] = [];
  for (const o of inv.other) problems.push(`tensor "${o.name}" is not a LoRA factor`);
  const reader = SafetensorsReader.open(inv.file);
  const modules: LoraModuleWeights[] = [];
  let dtype = 'F32';
  try {
    for (const [name, f] of [...inv.factors].sort(([x], [y]) => compareNames(x, y))) {
      if (!f.a || !f.b) {
        problems.push(`module "${name}" has lora_${f.a ? 'A' : 'B'} but no lora_${f.a ? 'B' : 'A'}`);
        continue;
      }
      const { r, alpha } = moduleRankAlpha(config.settings, name);
      const [ra, inF] = f.a.shape;
      const [outF, rb] = f.b.shape;
      if (f.a.shape.length !== 2 || f.b.shape.length !== 2 || ra !== rb) {
        problems.push(`module "${name}": lora_A [${f.a.shape.join(', ')}] and lora_B [${f.b.shape.join(', ')}] do not form a rank-r pair`);
        continue;
      }
      if (ra !== r) {
        problems.push(`module "${name}": factors have rank ${ra} but adapter_config.json gives r=${r}`);
        continue;
      }
      dtype = f.a.dtype;
      modules.push({ name, r, alpha, inFeatures: inF, outFeatures: outF, a: reader.readFloat32(f.a.name), b: reader.readFloat32(f.b.name) });
    }
  } finally {
    reader.close();
  }
  if (modules.length === 0 && problems.length === 0) problems.push('no LoRA factors in the file');
  if (problems.length) throw new AdapterFilesError(`${inv.file}: ${problems.join('; ')}`, problems);
  return { dir, config, modules, dtype };
}

/** PEFT sorts tensor names as Python strings (byte order for ASCII names). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- writing --------------------------------------------------------------------------------

/**
 * Writes adapter_config.json and adapter_model.safetensors into `dir` (which must exist) as PEFT
 * writes them. `dtype` is the stored type of the factors.
 */
export function writeAdapterFiles(dir: string, tree: PyJsonObject, modules: readonly LoraModuleWeights[], dtype: WritableDType = 'F32'): void {
  const tensors: TensorToWrite[] = [];
  for (const m of modules) {
    tensors.push({ name: peftTensorName(m.name, 'A'), dtype, shape: [m.r, m.inFeatures], data: m.a });
    tensors.push({ name: peftTensorName(m.name, 'B'), dtype, shape: [m.outFeatures, m.r], data: m.b });
  }
  tensors.sort((x, y) => compareNames(x.name, y.name));
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors);
  writeFileAtomic(path.join(dir, ADAPTER_CONFIG), dumpsPyJson(tree));
}

export interface NewLoraConfig {
  baseModel: string;
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  layers: number[] | null;
  rankPattern?: Record<string, number>;
  alphaPattern?: Record<string, number>;
  rslora: boolean;
  fanInFanOut: boolean;
}

/** adapter_config.json of a LoRA adapter, with the fields PEFT 0.17 writes. */
export function newLoraConfigTree(c: NewLoraConfig): PyJsonObject {
  const numbers = (p: Record<string, number> | undefined): PyJsonObject => Object.fromEntries(Object.entries(p ?? {}).map(([k, v]) => [k, pyNumber(v)]));
  return {
    alpha_pattern: numbers(c.alphaPattern),
    auto_mapping: null,
    base_model_name_or_path: c.baseModel,
    bias: 'none',
    corda_config: null,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: c.fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: c.layers,
    loftq_config: {},
    lora_alpha: pyNumber(c.alpha),
    lora_bias: false,
    lora_dropout: pyFloat(c.dropout),
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    qalora_group_size: 16,
    r: c.r,
    rank_pattern: numbers(c.rankPattern),
    revision: null,
    target_modules: [...c.targets].sort(),
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: c.rslora,
  };
}

/**
 * rank_pattern / alpha_pattern that give each module its own r and alpha when they differ from
 * the most common pair; keys are full module paths (PEFT matches `(.*\.)?key$`).
 */
export function patternsFor(modules: readonly { name: string; r: number; alpha: number }[]): {
  r: number;
  alpha: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
} {
  const count = new Map<string, number>();
  for (const m of modules) count.set(`${m.r}/${m.alpha}`, (count.get(`${m.r}/${m.alpha}`) ?? 0) + 1);
  const [top] = [...count].sort((x, y) => y[1] - x[1])[0] ?? ['8/8'];
  const [r, alpha] = top.split('/').map(Number);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const m of modules) {
    if (m.r !== r) rankPattern[m.name] = m.r;
    if (m.alpha !== alpha) alphaPattern[m.name] = m.alpha;
  }
  return { r, alpha, rankPattern, alphaPattern };
}
