/** Base models: the library, the model card, discovery in the Hugging Face cache, folder browsing. */
import { z } from 'zod';
import { call, event } from './define';

export type ModelSource = 'user' | 'hf-cache' | 'starter';

export interface ModelSummary {
  id: number;
  name: string;
  path: string;
  source: ModelSource;
  modelType: string;
  params: number;
  sizeBytes: number;
  dtype: string | null;
  addedAt: string;
}

/** A linear module that can take a LoRA adapter, e.g. q_proj [576 → 576] in 30 layers. */
export interface LoraModuleInfo {
  name: string;
  /** Path inside a layer (`self_attn.q_proj`, `mlp.c_proj`): tells GPT-2's two c_proj apart. */
  module: string;
  inFeatures: number;
  outFeatures: number;
}

export interface ModelCard extends ModelSummary {
  architecture: string | null;
  layers: number;
  hiddenSize: number;
  intermediateSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  tiedEmbeddings: boolean;
  hasChatTemplate: boolean;
  /** Every LoRA-targetable module name with its shape (the same in every layer). */
  modules: LoraModuleInfo[];
  files: { name: string; sizeBytes: number }[];
}

export interface CachedModelInfo {
  repoId: string;
  snapshot: string;
  path: string;
  registeredId: number | null;
}

export interface BrowseEntry {
  name: string;
  path: string;
  isDir: boolean;
  /** A folder with a config.json: likely a model. */
  isModel: boolean;
}

export const ModelRef = z.union([z.number().int().positive(), z.string().min(1)]);

export const modelsCalls = {
  'models.list': call<ModelSummary[]>()(z.object({}).strict()),
  'models.add': call<ModelSummary>()(z.object({ path: z.string().min(1), name: z.string().min(1).optional() }).strict()),
  'models.show': call<ModelCard>()(z.object({ id: ModelRef }).strict()),
  'models.remove': call<{ removed: boolean }>()(z.object({ id: z.number().int().positive() }).strict()),
  'models.scan': call<CachedModelInfo[]>()(z.object({}).strict()),
  /** Server-side browsing for the web shell's "add a folder" (the user's home and below). */
  'models.browse': call<{ path: string; parent: string | null; entries: BrowseEntry[] }>()(z.object({ path: z.string().optional() }).strict()),
};

export const modelsEvents = {
  'models.changed': event<{ id: number | null }>(),
};
