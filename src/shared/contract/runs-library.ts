/**
 * The run history's bookkeeping, beside the training calls of runs.ts: notes and tags on runs,
 * deleting a finished run, and presets (named run settings without the model and dataset, for
 * "save as preset" on the new-run page).
 */
import { z } from 'zod';
import { call, event } from './define';
import { RunConfig, type RunConfigParsed } from './runs';

/** A run's own words: free notes and tags (e.g. "sweep", "baseline"). */
export interface RunAnnotation {
  id: number;
  notes: string;
  tags: string[];
}

/** The settings of a run a preset keeps: everything but what names the model, data and adapter. */
export const PresetConfig = RunConfig.omit({ name: true, model: true, dataset: true, datasetVersion: true, fromAdapter: true });
export type PresetConfigParsed = Omit<RunConfigParsed, 'name' | 'model' | 'dataset' | 'datasetVersion' | 'fromAdapter'>;

export interface RunPreset {
  id: number;
  name: string;
  config: PresetConfigParsed;
  createdAt: string;
}

export interface RunDeleted {
  id: number;
  /** The run's folder under the data dir (checkpoints, logs) was removed. */
  filesDeleted: boolean;
  /** Adapters the run produced stay in the library; their link to the run is cleared. */
  adaptersKept: number;
}

const id = z.number().int().positive();
const Tag = z.string().trim().min(1).max(50);

export const runsLibraryCalls = {
  /** Notes and tags of every run (the history page joins them to runs.list). */
  'runs.annotations': call<RunAnnotation[]>()(z.object({}).strict()),
  'runs.setNotes': call<RunAnnotation>()(z.object({ id, notes: z.string().max(100_000) }).strict()),
  'runs.setTags': call<RunAnnotation>()(z.object({ id, tags: z.array(Tag).max(50) }).strict()),
  /** Deletes a run that is not queued, running or paused, with its metrics, checkpoints and folder. */
  'runs.delete': call<RunDeleted>()(z.object({ id }).strict()),
  'presets.list': call<RunPreset[]>()(z.object({}).strict()),
  /** Saves under `name`, replacing a preset of that name. */
  'presets.save': call<RunPreset>()(z.object({ name: z.string().trim().min(1).max(100), config: PresetConfig }).strict()),
  'presets.delete': call<{ deleted: boolean }>()(z.object({ id }).strict()),
};

export const runsLibraryEvents = {
  'runs.annotated': event<RunAnnotation>(),
  'runs.deleted': event<RunDeleted>(),
  'presets.changed': event<{ id: number | null }>(),
};
