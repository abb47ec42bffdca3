/**
 * The adapter library: trained, imported, resized and combined LoRA adapters; what each learned
 * (SVD spectrum of ΔW per module); rank resize and weighted combination.
 */
import { z } from 'zod';
import { call, event } from './define';

export type AdapterSource = 'run' | 'checkpoint' | 'import' | 'resize' | 'combine';

export interface AdapterSummary {
  id: number;
  name: string;
  source: AdapterSource;
  path: string;
  baseModelId: number | null;
  baseModelName: string | null;
  runId: number | null;
  checkpointId: number | null;
  parentAdapterId: number | null;
  datasetVersionId: number | null;
  rank: number;
  alpha: number;
  targets: string[];
  /** null: every layer */
  layers: number[] | null;
  sizeBytes: number;
  sha256: string;
  tags: string[];
  notes: string;
  /** A training chat template is recorded (exports write it). */
  hasTemplate: boolean;
  createdAt: string;
}

export interface AdapterDetail extends AdapterSummary {
  /** adapter_config.json as stored. */
  config: Record<string, unknown>;
  files: { name: string; sizeBytes: number }[];
  /** Adapted projections. */
  modules: number;
  rslora: boolean;
  /** The chat template text used in training, when recorded. */
  template: string | null;
  /** Where the base model lives, when it is known to the library. */
  baseModelPath: string | null;
  parentName: string | null;
  children: { id: number; name: string; source: AdapterSource }[];
}

export interface AdapterCheckReport {
  ok: boolean;
  /** Why the adapter cannot be used with the model (empty when it can). */
  problems: string[];
  modelType: string;
  modules: number;
  targets: string[];
  layers: number[] | null;
  rank: number;
  alpha: number;
  baseModelInConfig: string | null;
}

export interface ModuleSpectrumInfo {
  module: string;
  r: number;
  scale: number;
  singularValues: number[];
  /** energy[k-1]: share of ‖ΔW‖² in the top k singular values */
  energy: number[];
  effectiveRank: number;
  rank90: number;
  rank99: number;
  norm: number;
}

export interface AdapterSpectrumInfo {
  adapterId: number;
  modules: ModuleSpectrumInfo[];
  meanEffectiveRank: number;
  meanRank90: number;
  meanEnergyAtRank: number[];
}

export interface ResizeReport {
  adapter: AdapterSummary;
  modules: { module: string; fromRank: number; toRank: number; energyKept: number; droppedRatio: number }[];
  meanEnergyKept: number;
  minEnergyKept: number;
}

export interface CombineReport {
  adapter: AdapterSummary;
  modules: { module: string; concatRank: number; rank: number; energyKept: number; from: number[] }[];
}

const id = z.number().int().positive();
export const AdapterModelRef = z.union([z.number().int().positive(), z.string().min(1)]);

export const adaptersCalls = {
  'adapters.list': call<AdapterSummary[]>()(z.object({ tag: z.string().min(1).optional(), baseModelId: id.optional() }).strict()),
  'adapters.get': call<AdapterDetail>()(z.object({ id }).strict()),
  /** Does the PEFT adapter folder `dir` apply to the model? Nothing is stored. */
  'adapters.check': call<AdapterCheckReport>()(z.object({ dir: z.string().min(1), model: AdapterModelRef }).strict()),
  'adapters.import': call<AdapterSummary>()(z.object({ dir: z.string().min(1), model: AdapterModelRef, name: z.string().min(1).max(200).optional() }).strict()),
  'adapters.rename': call<AdapterSummary>()(z.object({ id, name: z.string().trim().min(1).max(200) }).strict()),
  'adapters.setTags': call<AdapterSummary>()(z.object({ id, tags: z.array(z.string().trim().min(1).max(50)).max(50) }).strict()),
  'adapters.setNotes': call<AdapterSummary>()(z.object({ id, notes: z.string().max(100_000) }).strict()),
  'adapters.delete': call<{ id: number; path: string; filesDeleted: boolean }>()(z.object({ id }).strict()),
  'adapters.reveal': call<{ path: string; opened: boolean }>()(z.object({ id }).strict()),
  'adapters.svd': call<AdapterSpectrumInfo>()(z.object({ id }).strict()),
  'adapters.resize': call<ResizeReport>()(z.object({ id, rank: z.number().int().min(1), name: z.string().min(1).max(200).optional() }).strict()),
  'adapters.combine': call<CombineReport>()(
    z
      .object({
        items: z.array(z.object({ id, weight: z.number().finite() }).strict()).min(2),
        rank: z.number().int().min(1).optional(),
        name: z.string().min(1).max(200).optional(),
      })
      .strict(),
  ),
};

export const adaptersEvents = {
  /** An adapter was added, renamed, re-tagged or deleted. */
  'adapters.changed': event<{ id: number; action: 'added' | 'updated' | 'deleted' }>(),
};
