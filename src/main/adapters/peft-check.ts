/**
 * Does a PEFT adapter apply to a chosen base model? Maps every tensor of adapter_model.safetensors
 * onto the model's projections (by Hugging Face module path) and checks the factor shapes against
 * the model's layer sizes, reporting every problem at once in words a user can act on:
 *
 *   - an adapter for another task (task_type SEQ_CLS, ...) or carrying full layers
 *     (modules_to_save: a classification head, resized embeddings) — LoRA Studio applies LoRA only;
 *   - DoRA, LoRA biases, LoRA on embeddings, layer replication, trainable tokens;
 *   - modules the model does not have, or factors whose in/out sizes differ from the model's
 *     (the adapter was trained on a different base).
 *
 * The model is described by shapes only (its config.json through the model registry), so a check
 * against a multi-gigabyte base reads no weights.
 */
import type { RawConfig } from '../ml/config';
import { layerIndexOf, matchesTarget } from '../ml/lora/spec';
import { createModel } from '../ml/models/registry';
import { inventoryAdapter, moduleRankAlpha, readAdapterConfig, type AdapterConfig, type AdapterInventory } from './peft-files';

export interface ModelShapes {
  /** For messages: the model's name or folder. */
  label: string;
  modelType: string;
  numLayers: number;
  /** LoRA-targetable projections by module path: nn.Linear sizes (GPT-2 Conv1D included). */
  linear: Map<string, { inFeatures: number; outFeatures: number }>;
}

/** The shapes of a model built from its config.json (no weights are read or allocated). */
export function modelShapes(config: RawConfig, label: string): ModelShapes {
  const model = createModel(config);
  try {
    const linear = new Map<string, { inFeatures: number; outFeatures: number }>();
    for (const [name, slot] of model.linearModules()) linear.set(name, { inFeatures: slot.base.inFeatures, outFeatures: slot.base.outFeatures });
    return { label, modelType: model.modelType, numLayers: model.dims.numLayers, linear };
  } finally {
    model.dispose();
  }
}

export interface MappedModule {
  /** Module path in the model, e.g. `model.layers.3.self_attn.v_proj`. */
  name: string;
  layer: number | null;
  r: number;
  alpha: number;
  inFeatures: number;
  outFeatures: number;
}

export interface AdapterCheck {
  config: AdapterConfig;
  inventory: AdapterInventory;
  problems: string[];
  modules: MappedModule[];
  /** Leaf names of the adapted modules (`q_proj`, `v_proj`). */
  targets: string[];
  /** Adapted layers, or null when every layer of the model is adapted. */
  layers: number[] | null;
}

const HEAD = /(^|\.)(score|classifier|classification_head|qa_outputs|pre_classifier|summary)$/;
const EMBEDDINGS = /(^|\.)(lm_head|embed_tokens|wte|wpe|embed_out)$/;
const MAX_LISTED = 4;

function listed(items: string[]): string {
  return items.slice(0, MAX_LISTED).join(', ') + (items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '');
}

function taskWords(task: string): string {
  const words: Record<string, string> = {
    SEQ_CLS: 'sequence classification',
    TOKEN_CLS: 'token classification',
    QUESTION_ANS: 'extractive question answering',
    SEQ_2_SEQ_LM: 'sequence-to-sequence generation',
    FEATURE_EXTRACTION: 'feature extraction',
  };
  return words[task] ?? task;
}

/** Checks the adapter folder `dir` against `model`; `problems` is empty when it applies. */
export function checkPeftAdapter(dir: string, model: ModelShapes): AdapterCheck {
  const config = readAdapterConfig(dir);
  const inventory = inventoryAdapter(dir);
  const s = config.settings;
  const problems: string[] = [];
  const base = s.baseModel ? `"${s.baseModel}"` : 'another model';

  if (s.peftType !== 'LORA') problems.push(`peft_type is "${s.peftType}": only LoRA adapters can be imported`);
  if (s.taskType && s.taskType !== 'CAUSAL_LM') {
    problems.push(`task_type is ${s.taskType} (${taskWords(s.taskType)}): the adapter was trained for that task on top of the model, not for text generation (CAUSAL_LM)`);
  }
  if (s.modulesToSave.length) {
    problems.push(`modules_to_save lists ${s.modulesToSave.join(', ')}: the adapter carries fully trained copies of those layers, which a LoRA-only import cannot apply`);
  }
  const full = inventory.other.filter((o) => o.kind === 'full');
  const heads = [...new Set(full.filter((o) => HEAD.test(o.module)).map((o) => o.module))];
  if (heads.length) {
    const shapes = full.filter((o) => heads.includes(o.module)).map((o) => `${o.name} [${o.shape.join(', ')}]`);
    problems.push(
      `it contains a classification head (${listed(shapes)}), saved through modules_to_save${s.modulesToSave.length ? '' : ' (PEFT adds the head itself for classification tasks)'}; a causal language model has no such layer`,
    );
  }
  const embeds = [...new Set(full.filter((o) => EMBEDDINGS.test(o.module)).map((o) => o.module))];
  if (embeds.length) problems.push(`it contains full weights of ${listed(embeds)} (modules_to_save or resized embeddings), which LoRA Studio cannot import into a LoRA adapter`);
  const otherFull = full.filter((o) => !HEAD.test(o.module) && !EMBEDDINGS.test(o.module)).map((o) => o.name);
  if (otherFull.length) problems.push(`it contains tensors that are not LoRA factors: ${listed(otherFull)}`);
  if (s.dora || inventory.other.some((o) => o.kind === 'dora')) problems.push('it is a DoRA adapter (use_dora: true, lora_magnitude_vector tensors), which LoRA Studio does not apply');
  if (s.loraBias || inventory.other.some((o) => o.kind === 'lora-bias')) problems.push('it trains LoRA biases (lora_bias), which LoRA Studio does not apply');
  if (s.bias !== 'none') problems.push(`bias is "${s.bias}": the adapter trained the model's biases, which LoRA Studio does not apply`);
  if (inventory.other.some((o) => o.kind === 'embedding-lora')) problems.push('it has LoRA on embedding layers (lora_embedding_A/B), which LoRA Studio does not apply');
  if (s.layerReplication) problems.push('it uses layer_replication, which LoRA Studio does not support');
  if (s.trainableTokens) problems.push('it trains individual token embeddings (trainable_token_indices), which LoRA Studio cannot import into a LoRA adapter');

  const modules: MappedModule[] = [];
  const unknown: string[] = [];
  const sizeMismatch: string[] = [];
  const rankMismatch: string[] = [];
  const halves: string[] = [];
  let maxLayer = -1;
  for (const [name, f] of inventory.factors) {
    if (!f.a || !f.b) {
      halves.push(`${name} has lora_${f.a ? 'A' : 'B'} only`);
      continue;
    }
    const layer = layerIndexOf(name);
    if (layer !== null) maxLayer = Math.max(maxLayer, layer);
    const target = model.linear.get(name);
    if (!target) {
      unknown.push(name);
      continue;
    }
    const { r, alpha } = moduleRankAlpha(s, name);
    const [ra, inF] = f.a.shape;
    const [outF, rb] = f.b.shape;
    if (f.a.shape.length !== 2 || f.b.shape.length !== 2 || ra !== rb) {
      halves.push(`${name}: lora_A [${f.a.shape.join(', ')}] and lora_B [${f.b.shape.join(', ')}] do not form a LoRA pair`);
      continue;
    }
    if (inF !== target.inFeatures || outF !== target.outFeatures) {
      sizeMismatch.push(`${name} is ${target.outFeatures}×${target.inFeatures} (out×in) in the model but ${outF}×${inF} in the adapter (lora_B [${f.b.shape.join(', ')}], lora_A [${f.a.shape.join(', ')}])`);
      continue;
    }
    if (ra !== r) {
      rankMismatch.push(`${name} has rank ${ra} but adapter_config.json gives r=${r}`);
      continue;
    }
    modules.push({ name, layer, r, alpha, inFeatures: inF, outFeatures: outF });
  }

  if (inventory.factors.size === 0 && inventory.other.length === 0) problems.push(`${inventory.file} holds no tensors`);
  else if (inventory.factors.size === 0) problems.push('it holds no LoRA factors (lora_A / lora_B)');
  if (unknown.length) {
    const pattern = (n: string) => n.replace(/\.\d+\./, '.N.');
    const known = new Set([...model.linear.keys()].map(pattern));
    const foreign = [...new Set(unknown.map(pattern).filter((p) => !known.has(p)))];
    const why = foreign.length
      ? `${model.label} (${model.modelType}) has no projections named like ${listed(foreign)}: the adapter was trained on ${base}, a different architecture`
      : `the adapter has layers up to ${maxLayer} but ${model.label} has ${model.numLayers} (0-${model.numLayers - 1}): it was trained on ${base}`;
    problems.push(`${unknown.length} adapted module(s) do not exist in the model, e.g. ${listed(unknown.sort((x, y) => x.localeCompare(y, undefined, { numeric: true })))}: ${why}`);
  }
  if (sizeMismatch.length) problems.push(`layer sizes differ from ${model.label}: ${listed(sizeMismatch)}; the adapter was trained on ${base}, whose shapes differ from this model's`);
  if (rankMismatch.length) problems.push(`ranks disagree with adapter_config.json: ${listed(rankMismatch)}`);
  if (halves.length) problems.push(`incomplete factors: ${listed(halves)}`);

  // The config's target_modules should name what the file holds (PEFT selects by it on load).
  if (Array.isArray(s.targets) && modules.length) {
    const untargeted = modules.filter((m) => !(s.targets as string[]).some((t) => matchesTarget(m.name, t))).map((m) => m.name);
    if (untargeted.length) problems.push(`tensors for modules outside target_modules (${(s.targets as string[]).join(', ')}): ${listed(untargeted)}`);
  }

  modules.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const targets = [...new Set(modules.map((m) => m.name.split('.').at(-1) as string))].sort();
  const layerSet = [...new Set(modules.map((m) => m.layer).filter((l): l is number => l !== null))].sort((a, b) => a - b);
  const layers = layerSet.length === model.numLayers ? null : layerSet;
  return { config, inventory, problems, modules, targets, layers };
}
