/**
 * Which projections of a model get LoRA, with which rank and alpha — PEFT's LoraConfig rules.
 *
 * A target matches a module whose Hugging Face path equals it or ends with `.<target>` (PEFT's
 * suffix rule), so `c_proj` takes both GPT-2 projections of that name and `attn.c_proj` only the
 * attention one. `layers` restricts to those decoder layers (PEFT's layers_to_transform).
 * rank_pattern / alpha_pattern keys are matched the same way (`(.*\.)?key$`) and override r /
 * lora_alpha for the modules they match.
 */
import type { LinearSlot } from '../models/linear';

export type LoraInit = 'default' | 'gaussian' | 'pissa';

export interface LoraSpec {
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  targets: string[];
  /** Layer indices, or null for every layer. */
  layers: number[] | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  init: LoraInit;
}

export class LoraSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraSpecError';
  }
}

const LAYER_INDEX = /\.(?:layers|h)\.(\d+)\./;

/** The decoder layer a module path belongs to (`model.layers.3.mlp.up_proj` → 3), or null. */
export function layerIndexOf(modulePath: string): number | null {
  const m = LAYER_INDEX.exec(modulePath);
  return m ? Number(m[1]) : null;
}

/** PEFT's suffix rule for target_modules: equal, or ends with `.target`. */
export function matchesTarget(modulePath: string, target: string): boolean {
  return modulePath === target || modulePath.endsWith('.' + target);
}

/** PEFT's get_pattern_key: the first key such that the path matches `(.*\.)?key$`. */
export function patternKeyFor(modulePath: string, keys: string[]): string | undefined {
  return keys.find((key) => {
    try {
      return new RegExp(`^(.*\\.)?(?:${key})$`).test(modulePath);
    } catch {
      return matchesTarget(modulePath, key); // not a valid regex: a plain suffix
    }
  });
}

export function rankFor(spec: LoraSpec, modulePath: string): number {
  const key = patternKeyFor(modulePath, Object.keys(spec.rankPattern));
  return key === undefined ? spec.r : spec.rankPattern[key];
}

export function alphaFor(spec: LoraSpec, modulePath: string): number {
  const key = patternKeyFor(modulePath, Object.keys(spec.alphaPattern));
  return key === undefined ? spec.alpha : spec.alphaPattern[key];
}

/** s = alpha / r, or alpha / √r with rsLoRA (Kalajdzievski 2023). */
export function loraScale(alpha: number, r: number, rslora: boolean): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/**
 * The names a user may give as targets for a model: each module's leaf name (`q_proj`) and its
 * last two parts (`self_attn.q_proj`, `attn.c_proj`), in model order.
 */
export function targetNames(modulePaths: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const p of modulePaths) {
    const parts = p.split('.');
    names.add(parts[parts.length - 1]);
  }
  for (const p of modulePaths) {
    const parts = p.split('.');
    if (parts.length >= 2) names.add(parts.slice(-2).join('.'));
  }
  return [...names];
}

export interface SelectedModule {
  name: string;
  slot: LinearSlot;
  r: number;
  alpha: number;
  inFeatures: number;
  outFeatures: number;
}

/**
 * The modules `spec` adapts in a model with `numLayers` layers. Every problem is reported at once:
 * a target that names no module, a layer index out of range, a rank or alpha that is not positive.
 */
export function selectModules(spec: LoraSpec, modules: Map<string, LinearSlot>, numLayers: number): SelectedModule[] {
  const problems = specProblems(spec, [...modules.keys()], numLayers);
  if (problems.length) throw new LoraSpecError(problems.join('; '));
  const layers = spec.layers ? new Set(spec.layers) : null;
  const out: SelectedModule[] = [];
  for (const [name, slot] of modules) {
    if (!spec.targets.some((t) => matchesTarget(name, t))) continue;
    const layer = layerIndexOf(name);
    if (layers && (layer === null || !layers.has(layer))) continue;
    out.push({ name, slot, r: rankFor(spec, name), alpha: alphaFor(spec, name), inFeatures: slot.base.inFeatures, outFeatures: slot.base.outFeatures });
  }
  return out;
}

/** The reasons `spec` cannot apply to a model with these module paths (empty when it can). */
export function specProblems(spec: LoraSpec, modulePaths: string[], numLayers: number): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(spec.r) || spec.r < 1) problems.push(`rank must be a whole number ≥ 1, got ${spec.r}`);
  if (!(spec.alpha > 0)) problems.push(`alpha must be > 0, got ${spec.alpha}`);
  if (!(spec.dropout >= 0 && spec.dropout < 1)) problems.push(`dropout must be in [0, 1), got ${spec.dropout}`);
  if (spec.targets.length === 0) problems.push('no target modules given');
  const known = targetNames(modulePaths);
  for (const t of spec.targets) {
    if (!modulePaths.some((p) => matchesTarget(p, t))) {
      problems.push(`unknown target module "${t}" (this model has: ${known.filter((k) => !k.includes('.')).join(', ')})`);
    }
  }
  const outside = (spec.layers ?? []).filter((l) => !Number.isInteger(l) || l < 0 || l >= numLayers);
  if (outside.length) {
    problems.push(`${outside.length === 1 ? 'layer' : 'layers'} ${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} out of range (this model has layers 0-${numLayers - 1})`);
  }
  for (const [k, v] of Object.entries(spec.rankPattern)) {
    if (!Number.isInteger(v) || v < 1) problems.push(`rank_pattern "${k}": rank must be a whole number ≥ 1, got ${v}`);
  }
  for (const [k, v] of Object.entries(spec.alphaPattern)) {
    if (!(v > 0)) problems.push(`alpha_pattern "${k}": alpha must be > 0, got ${v}`);
  }
  return problems;
}

/** Σ r·(in + out) over the adapted modules: the exact number of trainable parameters. */
export function trainableParamCount(selected: readonly { r: number; inFeatures: number; outFeatures: number }[]): number {
  return selected.reduce((n, m) => n + m.r * (m.inFeatures + m.outFeatures), 0);
}
