/**
 * Adapters in PEFT's on-disk format: a folder with adapter_config.json and
 * adapter_model.safetensors, tensors named `base_model.model.<module path>.lora_A.weight` /
 * `.lora_B.weight`, lora_A [r, in] and lora_B [out, r] (see shared/docs/formats.md).
 *
 * GPT-2's Conv1D layers are marked `fan_in_fan_out: true`; the factor shapes are the same, PEFT
 * transposes the delta when it merges into the stored (in, out) weight.
 *
 * A PiSSA adapter is saved the way PEFT's `path_initial_model_for_weight_conversion` does, so it
 * applies to the original (not the residual) base model: A' = [A; A₀], B' = [B, −B₀], with r and
 * lora_alpha doubled (alpha × √2 under rsLoRA) to keep the scale.
 *
 * Loading checks every tensor name and shape against the model and reports all problems at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AtomicDirWriter } from '../../storage/files';
import type { CausalLM } from '../models/causal-lm';
import { SafetensorsReader, writeSafetensors, type TensorToWrite } from '../safetensors';
import { LoraAdapter, peftKey, type Factors } from './adapter';
import { alphaFor, layerIndexOf, rankFor, selectModules, type LoraInit, type LoraSpec } from './spec';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export class AdapterFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterFormatError';
  }
}

/** The adapter_config.json fields the studio reads; everything else is kept as it was. */
const PeftConfigSchema = z
  .object({
    peft_type: z.string(),
    task_type: z.string().nullish(),
    base_model_name_or_path: z.string().nullish(),
    r: z.number().int().positive(),
    lora_alpha: z.number().positive(),
    lora_dropout: z.number().min(0).max(1).default(0),
    target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
    fan_in_fan_out: z.boolean().default(false),
    use_rslora: z.boolean().default(false),
    use_dora: z.boolean().default(false),
    layers_to_transform: z.union([z.array(z.number().int()), z.number().int()]).nullish(),
    rank_pattern: z.record(z.string(), z.number().int().positive()).nullish(),
    alpha_pattern: z.record(z.string(), z.number().positive()).nullish(),
    modules_to_save: z.array(z.string()).nullish(),
    init_lora_weights: z.union([z.boolean(), z.string()]).default(true),
    bias: z.string().default('none'),
  })
  .loose();

export type PeftConfig = z.infer<typeof PeftConfigSchema>;

export interface SaveOptions {
  /** `base_model_name_or_path`: the model id or folder. */
  baseModel: string;
  /** config.json model_type, to mark GPT-2 Conv1D layers fan_in_fan_out. */
  modelType: string;
}

/** adapter_config.json for `spec` as PEFT 0.17 writes it. */
export function peftConfigFor(spec: LoraSpec, opts: SaveOptions): Record<string, unknown> {
  return {
    alpha_pattern: spec.alphaPattern,
    auto_mapping: null,
    base_model_name_or_path: opts.baseModel,
    bias: 'none',
    fan_in_fan_out: opts.modelType === 'gpt2',
    inference_mode: true,
    init_lora_weights: spec.init === 'default' ? true : spec.init,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: spec.layers,
    loftq_config: {},
    lora_alpha: spec.alpha,
    lora_bias: false,
    lora_dropout: spec.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: spec.rankPattern,
    revision: null,
    target_modules: spec.targets,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: spec.rslora,
  };
}

/** The spec and factors to write: PiSSA adapters are converted to plain LoRA on the original base. */
export function exportableAdapter(adapter: LoraAdapter): { spec: LoraSpec; factors: Factors; ranks: Map<string, number> } {
  const current = adapter.factors();
  const ranks = new Map(adapter.layers.map((l) => [l.name, l.r]));
  if (!adapter.initialFactors) return { spec: adapter.spec, factors: current, ranks };
  const spec = adapter.spec;
  const grow = spec.rslora ? Math.SQRT2 : 2;
  const converted: Factors = new Map();
  for (const l of adapter.layers) {
    const now = current.get(l.name)!;
    const init = adapter.initialFactors.get(l.name)!;
    const r = l.r;
    const a = new Float32Array(2 * r * l.inFeatures); // [2r, in] = [A; A₀]
    a.set(now.a, 0);
    a.set(init.a, r * l.inFeatures);
    const b = new Float32Array(l.outFeatures * 2 * r); // [out, 2r] = [B, −B₀]
    for (let i = 0; i < l.outFeatures; i++) {
      for (let j = 0; j < r; j++) {
        b[i * 2 * r + j] = now.b[i * r + j];
        b[i * 2 * r + r + j] = -init.b[i * r + j];
      }
    }
    converted.set(l.name, { a, b });
    ranks.set(l.name, 2 * r);
  }
  const doubled = (p: Record<string, number>, k: number) => Object.fromEntries(Object.entries(p).map(([key, v]) => [key, v * k]));
  return {
    spec: {
      ...spec,
      init: 'default',
      r: 2 * spec.r,
      alpha: spec.alpha * grow,
      rankPattern: doubled(spec.rankPattern, 2),
      alphaPattern: doubled(spec.alphaPattern, grow),
    },
    factors: converted,
    ranks,
  };
}

/** Writes the adapter folder `dir` atomically (it must not exist yet). */
export function savePeftAdapter(dir: string, adapter: LoraAdapter, opts: SaveOptions): void {
  const { spec, factors, ranks } = exportableAdapter(adapter);
  const out = new AtomicDirWriter(dir);
  try {
    writeAdapterFiles(out.path('.'), spec, factors, ranks, adapter.layers, opts);
    out.commit();
  } catch (err) {
    out.abort();
    throw err;
  }
}

/** Writes adapter_config.json + adapter_model.safetensors into an existing folder. */
export function writeAdapterFiles(
  dir: string,
  spec: LoraSpec,
  factors: Factors,
  ranks: Map<string, number>,
  modules: readonly { name: string; inFeatures: number; outFeatures: number }[],
  opts: SaveOptions,
): void {
  const tensors: TensorToWrite[] = [];
  for (const m of modules) {
    const f = factors.get(m.name)!;
    const r = ranks.get(m.name)!;
    tensors.push({ name: peftKey(m.name, 'A'), dtype: 'F32', shape: [r, m.inFeatures], data: f.a });
    tensors.push({ name: peftKey(m.name, 'B'), dtype: 'F32', shape: [m.outFeatures, r], data: f.b });
  }
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors);
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(peftConfigFor(spec, opts), null, 2) + '\n');
}

export interface PeftAdapterFiles {
  dir: string;
  config: PeftConfig;
  spec: LoraSpec;
  factors: Factors;
}

/** Reads adapter_config.json (validated) without the weights. */
export function readPeftConfig(dir: string): PeftConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file)) throw new AdapterFormatError(`${dir}: not a PEFT adapter folder (no ${ADAPTER_CONFIG})`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AdapterFormatError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = PeftConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new AdapterFormatError(`${file}: field "${i.path.join('.') || '(root)'}": ${i.message}`);
  }
  const c = parsed.data;
  if (c.peft_type !== 'LORA') throw new AdapterFormatError(`${file}: peft_type is "${c.peft_type}"; only LORA adapters are supported`);
  if (c.use_dora) throw new AdapterFormatError(`${file}: DoRA adapters (use_dora: true) are not supported`);
  if (c.modules_to_save?.length) {
    throw new AdapterFormatError(
      `${file}: modules_to_save (${c.modules_to_save.join(', ')}) holds fully trained layers such as a classification head; ` +
        `this is a ${c.task_type ?? 'non-causal-LM'} adapter, which a causal-LM studio cannot use`,
    );
  }
  if (c.task_type && c.task_type !== 'CAUSAL_LM') {
    const kind: Record<string, string> = { SEQ_CLS: 'a sequence-classification adapter', TOKEN_CLS: 'a token-classification adapter', SEQ_2_SEQ_LM: 'an encoder-decoder adapter', QUESTION_ANS: 'a question-answering adapter' };
    throw new AdapterFormatError(`${file}: task_type is ${c.task_type} (${kind[c.task_type] ?? 'not a causal-LM adapter'}); only CAUSAL_LM adapters apply to a causal language model`);
  }
  return c;
}

/**
 * Reads an adapter folder against `model`: every tensor must name a module of the model with the
 * right shapes, and every module the config selects must have both factors. All problems at once.
 */
export function readPeftAdapter(dir: string, model: CausalLM): PeftAdapterFiles {
  const config = readPeftConfig(dir);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(weightsFile)) throw new AdapterFormatError(`${dir}: ${ADAPTER_WEIGHTS} is missing`);
  const reader = SafetensorsReader.open(weightsFile);
  try {
    const modules = model.linearModules();
    const problems: string[] = [];
    const found = new Map<string, { a?: string; b?: string }>();
    for (const name of reader.tensors.keys()) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
      if (!m) {
        problems.push(`unexpected tensor "${name}"`);
        continue;
      }
      if (!modules.has(m[1])) {
        problems.push(`tensor "${name}" names module "${m[1]}", which this ${model.modelType} model does not have`);
        continue;
      }
      const entry = found.get(m[1]) ?? {};
      entry[m[2] === 'A' ? 'a' : 'b'] = name;
      found.set(m[1], entry);
    }
    const targets = found.size ? [...new Set([...found.keys()].map((p) => p.split('.').slice(-1)[0]))] : [];
    const configTargets = Array.isArray(config.target_modules) ? config.target_modules : targets;
    const layers = config.layers_to_transform === null || config.layers_to_transform === undefined ? null : [config.layers_to_transform].flat();
    const init: LoraInit = config.init_lora_weights === 'gaussian' ? 'gaussian' : 'default';
    const spec: LoraSpec = {
      r: config.r,
      alpha: config.lora_alpha,
      dropout: config.lora_dropout,
      rslora: config.use_rslora,
      targets: configTargets,
      layers,
      rankPattern: config.rank_pattern ?? {},
      alphaPattern: config.alpha_pattern ?? {},
      init,
    };
    const factors: Factors = new Map();
    for (const [modulePath, names] of found) {
      const slot = modules.get(modulePath)!;
      const r = rankFor(spec, modulePath);
      const base = slot.base;
      if (!names.a || !names.b) {
        problems.push(`module "${modulePath}" has only lora_${names.a ? 'A' : 'B'}`);
        continue;
      }
      const ia = reader.info(names.a);
      const ib = reader.info(names.b);
      const wantA = [r, base.inFeatures];
      const wantB = [base.outFeatures, r];
      if (ia.shape.join() !== wantA.join()) problems.push(`"${names.a}" has shape [${ia.shape.join(', ')}], expected [${wantA.join(', ')}]`);
      if (ib.shape.join() !== wantB.join()) problems.push(`"${names.b}" has shape [${ib.shape.join(', ')}], expected [${wantB.join(', ')}]`);
      if (problems.length) continue;
      factors.set(modulePath, { a: reader.readFloat32(names.a), b: reader.readFloat32(names.b) });
    }
    if (found.size === 0 && problems.length === 0) problems.push('no LoRA tensors in the file');
    if (!problems.length) {
      // The config's selection must be exactly the modules present in the file.
      let selected: string[] = [];
      try {
        selected = selectModules(spec, modules, model.dims.numLayers).map((m) => m.name);
      } catch (err) {
        problems.push((err as Error).message);
      }
      const missing = selected.filter((n) => !found.has(n));
      if (missing.length) problems.push(`adapter_config.json selects ${missing.length} module(s) with no tensors: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
      const extra = [...found.keys()].filter((n) => !selected.includes(n));
      if (extra.length) problems.push(`tensors for modules outside target_modules/layers_to_transform: ${extra.slice(0, 5).join(', ')}`);
      for (const n of found.keys()) {
        if (alphaFor(spec, n) <= 0) problems.push(`module "${n}": alpha must be > 0`);
        if (spec.layers && layerIndexOf(n) === null) problems.push(`module "${n}" is in no layer`);
      }
    }
    if (problems.length) throw new AdapterFormatError(`${dir}: ${problems.join('; ')}`);
    return { dir, config, spec, factors };
  } finally {
    reader.close();
  }
}

/** Reads `dir` and attaches it to `model`. */
export function loadPeftAdapter(dir: string, model: CausalLM): LoraAdapter {
  const files = readPeftAdapter(dir, model);
  return LoraAdapter.attachFactors(model, files.spec, files.factors);
}
