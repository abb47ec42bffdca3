/**
 * The adapter page's words and numbers: where an adapter came from, which layers and modules it
 * adapts, what its spectrum says about a smaller rank, where an export goes by default, and what an
 * export's result means (the contract carries results as plain records; their shapes are the
 * engine's, src/main/export/{merged,gguf}.ts and src/main/adapters/peft-export.ts).
 */
import type { AdapterSource, AdapterSpectrumInfo, AdapterSummary, ExportKind, ExportRecord, ModuleSpectrumInfo } from '../../../../shared/contract';

export const SOURCE_LABELS: Record<AdapterSource, { text: string; title: string }> = {
  run: { text: 'Run', title: 'Written by a training run when it finished' },
  checkpoint: { text: 'Checkpoint', title: 'A training run’s checkpoint, taken into the library' },
  import: { text: 'Imported', title: 'A PEFT adapter folder imported for a base model' },
  resize: { text: 'Resized', title: 'Made from another adapter by truncated SVD at a smaller rank' },
  combine: { text: 'Combined', title: 'A weighted sum of several adapters on the same base model' },
};

/** null → "all layers"; [0, 1, 2, 5, 7, 8] → "0–2, 5, 7–8". */
export function formatLayers(layers: readonly number[] | null): string {
  if (layers === null) return 'all layers';
  if (layers.length === 0) return 'none';
  const sorted = [...new Set(layers)].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (const n of sorted.slice(1).concat(Number.NaN)) {
    if (n === prev + 1) {
      prev = n;
      continue;
    }
    parts.push(start === prev ? String(start) : `${start}–${prev}`);
    start = n;
    prev = n;
  }
  return parts.join(', ');
}

/**
 * A module's full path split into its layer and its path inside the layer:
 * "model.layers.3.self_attn.q_proj" → { layer: 3, name: "self_attn.q_proj" },
 * "transformer.h.1.mlp.c_proj" → { layer: 1, name: "mlp.c_proj" }.
 */
export function splitModule(path: string): { layer: number | null; name: string } {
  const m = /(?:^|\.)(?:layers|h|blocks|block)\.(\d+)\.(.+)$/.exec(path);
  if (m) return { layer: Number(m[1]), name: m[2] };
  return { layer: null, name: path.replace(/^base_model\.model\./, '') };
}

/** An energy share with one decimal, so 99.6 % does not read as 100 %: 0.9961 → "99.6 %", 1 → "100 %". */
export function formatEnergy(f: number): string {
  if (!Number.isFinite(f)) return '—';
  return f >= 0.99995 ? '100 %' : `${(f * 100).toFixed(1)} %`;
}

/** Share of ‖ΔW‖² a module keeps when cut to rank k (1 when k ≥ its rank). */
export function energyAt(m: Pick<ModuleSpectrumInfo, 'energy'>, k: number): number {
  if (k <= 0 || m.energy.length === 0) return 0;
  return m.energy[Math.min(k, m.energy.length) - 1];
}

export interface ResizePreview {
  rank: number;
  meanEnergy: number;
  minEnergy: number;
  /** The module that loses most. */
  minModule: string | null;
  /** Modules keeping less than 90 % of their energy. */
  below90: number;
}

/** What cutting every module to rank k would keep, read off the spectrum (before any resize). */
export function resizePreview(spectrum: AdapterSpectrumInfo, k: number): ResizePreview {
  let sum = 0;
  let min = Infinity;
  let minModule: string | null = null;
  let below90 = 0;
  for (const m of spectrum.modules) {
    const e = energyAt(m, k);
    sum += e;
    if (e < min) {
      min = e;
      minModule = m.module;
    }
    if (e < 0.9) below90++;
  }
  const n = spectrum.modules.length;
  return { rank: k, meanEnergy: n ? sum / n : 0, minEnergy: n ? min : 0, minModule, below90 };
}

/** The smallest rank at which every module keeps at least `share` of its energy. */
export function rankKeeping(spectrum: AdapterSpectrumInfo, share: number): number {
  let k = 1;
  for (const m of spectrum.modules) {
    const i = m.energy.findIndex((e) => e >= share - 1e-12);
    k = Math.max(k, i < 0 ? m.energy.length : i + 1);
  }
  return k;
}

/** Rank of the combined adapter: the ranks side by side, or the chosen truncation when smaller. */
export function combinedRank(ranks: readonly number[], truncateTo: number | null): number {
  const concat = ranks.reduce((a, b) => a + b, 0);
  return truncateTo !== null && truncateTo < concat ? truncateTo : concat;
}

/** Adapters that can be combined with `a`: the same base model. */
export function sameBase(a: AdapterSummary, b: AdapterSummary): boolean {
  if (a.baseModelId !== null || b.baseModelId !== null) return a.baseModelId === b.baseModelId;
  return a.baseModelName === b.baseModelName;
}

/** A file-name-safe form of an adapter name ("My adapter · step 40" → "my-adapter-step-40"). */
export function slugify(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48) || 'adapter'
  );
}

/** `dir` + `name` with the separator `dir` already uses (a Windows data dir keeps backslashes). */
export function joinPath(dir: string, name: string): string {
  const sep = dir.includes('\\') && !dir.includes('/') ? '\\' : '/';
  return dir.replace(/[\\/]+$/, '') + sep + name;
}

export function parentPath(p: string): string {
  const trimmed = p.replace(/[\\/]+$/, '');
  const i = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return i > 0 ? trimmed.slice(0, i) : trimmed.slice(0, i + 1);
}

export type MergedDtype = 'auto' | 'bf16' | 'f16' | 'f32';
export type GgufType = 'f32' | 'f16' | 'q8_0';

export interface ExportChoice {
  kind: ExportKind;
  dtype: MergedDtype;
  ggufType: GgufType;
}

/** The name an export gets by default: "<adapter>-peft", "<adapter>-merged-f16", "<adapter>-q8_0.gguf". */
export function exportName(adapterName: string, c: ExportChoice): string {
  const base = slugify(adapterName);
  if (c.kind === 'peft') return `${base}-peft`;
  if (c.kind === 'merged') return c.dtype === 'auto' ? `${base}-merged` : `${base}-merged-${c.dtype}`;
  return `${base}-${c.ggufType}.gguf`;
}

/**
 * Where an export goes unless the user says otherwise: the data dir's exports folder, under a name
 * no earlier export of this session used (the engine refuses an existing destination).
 */
export function defaultExportPath(exportsDir: string, adapterName: string, c: ExportChoice, taken: ReadonlySet<string>): string {
  const name = exportName(adapterName, c);
  const gguf = name.endsWith('.gguf');
  const stem = gguf ? name.slice(0, -'.gguf'.length) : name;
  for (let i = 1; ; i++) {
    const candidate = joinPath(exportsDir, `${stem}${i === 1 ? '' : `-${i}`}${gguf ? '.gguf' : ''}`);
    if (!taken.has(candidate)) return candidate;
  }
}

export const EXPORT_LABELS: Record<ExportKind, string> = {
  peft: 'PEFT adapter',
  merged: 'Merged model',
  gguf: 'GGUF',
};

/** The merged model's logits check (src/main/export/verify.ts LogitsCheck). */
export interface LogitsCheck {
  prompts: number;
  tokens: number;
  dtype: string;
  maxAbsDiff: number;
  maxAbsLogit: number;
  relativeDiff: number;
  tolerance: number;
  top1Agreement: number;
  passed: boolean;
}

export interface WrittenFile {
  name: string;
  bytes: number;
}

export interface PeftResultView {
  kind: 'peft';
  outDir: string;
  files: WrittenFile[];
  modules: number;
  dtype: string;
  chatTemplate: 'training' | 'base' | 'none';
}

export interface MergedResultView {
  kind: 'merged';
  outDir: string;
  files: WrittenFile[];
  dtype: MergedDtype;
  storedDtypes: Record<string, number>;
  shards: number;
  tensors: number;
  mergedModules: number;
  totalBytes: number;
  chatTemplate: 'training' | 'base' | 'none';
  verification: LogitsCheck | null;
  verificationNote?: string;
}

export interface GgufResultView {
  kind: 'gguf';
  file: string;
  bytes: number;
  type: GgufType;
  tensors: number;
  tensorTypes: Record<string, number>;
  q8Fallbacks: string[];
  mergedModules: number;
  metadata: Record<string, unknown>;
  vocab: { model: string; tokens: number; chatTemplate: boolean; notes: string[] };
  modelfile: { file: string; translated: boolean; note?: string; stops: string[] } | null;
  validation: { reread: boolean; metadataKeys: number; tensorsChecked: number };
}

export type ExportResultView = PeftResultView | MergedResultView | GgufResultView;

/** A completed export's result, by its kind (null when there is none or it is not one the UI knows). */
export function exportResult(rec: Pick<ExportRecord, 'kind' | 'result'>): ExportResultView | null {
  const r = rec.result;
  if (!r || r.kind !== rec.kind) return null;
  return r as unknown as ExportResultView;
}

/** The files an export wrote, with their total size. */
export function writtenFiles(view: ExportResultView): { files: { name: string; bytes: number | null }[]; totalBytes: number } {
  if (view.kind === 'gguf') {
    const files: { name: string; bytes: number | null }[] = [{ name: baseName(view.file), bytes: view.bytes }];
    // The engine does not report the Modelfile's size (a few hundred bytes).
    if (view.modelfile) files.push({ name: baseName(view.modelfile.file), bytes: null });
    return { files, totalBytes: view.bytes };
  }
  return { files: view.files, totalBytes: view.files.reduce((n, f) => n + f.bytes, 0) };
}

export function baseName(p: string): string {
  const parts = p.split(/[\\/]+/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}

/** The phase of a running export in words. */
export function phaseLabel(kind: ExportKind, phase: string | null): string {
  switch (phase) {
    case 'write':
      return kind === 'merged' ? 'Merging and writing tensors' : kind === 'gguf' ? 'Merging, converting and writing tensors' : 'Writing the adapter files';
    case 'merge':
      return 'Merging the adapter into the weights';
    case 'verify':
      return kind === 'merged' ? 'Checking: reloading the export and comparing its logits with base + adapter' : kind === 'gguf' ? 'Checking: reading the file back' : 'Checking the written files';
    case null:
    case '':
      return 'Starting…';
    default:
      return phase.charAt(0).toUpperCase() + phase.slice(1);
  }
}

/** What to do about a failed export, by the cause the engine named. */
export function exportAdvice(error: string): string {
  if (/disk is full|ENOSPC|not enough space/i.test(error)) return 'Free some space on that disk, or choose a destination on another disk, then export again.';
  if (/permission denied|EACCES|EPERM|read-only/i.test(error)) return 'Choose a folder you can write to (for example one in your home folder).';
  if (/already exists/i.test(error)) return 'Change the destination name, or remove the existing file or folder first.';
  if (/not in the model library|base model/i.test(error)) return 'Add the adapter’s base model on the Models page, then export again.';
  if (/interrupted|closed/i.test(error)) return 'Start the export again; nothing partial was kept.';
  if (/non-finite|NaN|Inf/i.test(error)) return 'The merged weights overflow in this dtype: export as f32 or bf16 instead.';
  if (/does not support|not supported|unsupported/i.test(error)) return 'This architecture cannot be written in that format: export the PEFT adapter or the merged model instead.';
  return 'Fix the cause named above and export again; nothing partial was left behind.';
}

/** What to do when an adapter folder cannot be imported, by the problems the engine found. */
export function importAdvice(problems: readonly string[]): string {
  const text = problems.join(' ');
  if (/modules_to_save|classification|SEQ_CLS|TOKEN_CLS/i.test(text))
    return 'This adapter was trained for a classification task with its own output head; LoRA Studio uses adapters for text generation (task_type CAUSAL_LM).';
  if (/differ|layers up to|do not exist|shape/i.test(text)) return 'Pick the base model the adapter was trained on (see base_model_name_or_path in its adapter_config.json); add it on the Models page if it is not in the library.';
  if (/adapter_config|adapter_model|no such|not a folder/i.test(text)) return 'Pick the folder that holds adapter_config.json and adapter_model.safetensors.';
  return 'Pick another adapter folder or another base model.';
}
