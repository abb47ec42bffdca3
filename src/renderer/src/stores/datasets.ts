/**
 * Datasets: the list, a look at a file before importing it (shape, columns, first rows), the
 * running import (progress from `datasets.importProgress` events, cancel), and per dataset its
 * versions, rows as the user and as the model sees them, and length statistics.
 *
 * The import id is chosen here, so the cancel button works before the import call returns, and
 * progress events that arrive before the call's answer are matched to it.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type {
  CallArgs,
  DatasetDetail,
  DatasetStats,
  DatasetSummary,
  ImportProgressEvent,
  ImportResult,
  InspectResult,
  PreviewResult,
} from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { onReconnected } from './connection';
import { useKeyedLoadable, useLoadable } from './loadable';
import { DATASET_EXTENSIONS } from '../../../shared/dataset-files';

export type InspectRequest = CallArgs<'datasets.inspect'>;
export type ImportRequest = Omit<CallArgs<'datasets.import'>, 'importId'>;
export type PreviewRequest = CallArgs<'datasets.preview'>;
export type StatsRequest = CallArgs<'datasets.stats'>;

export interface RunningImport {
  importId: string;
  path: string;
  startedAt: number;
  progress: ImportProgressEvent | null;
  cancelling: boolean;
}

function newImportId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `imp-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export const useDatasetsStore = defineStore('datasets', () => {
  const datasets = shallowRef<DatasetSummary[]>([]);
  const { loaded, loading, error, load } = useLoadable(async () => {
    datasets.value = await api.call('datasets.list', {});
  });

  const detailCache = useKeyedLoadable((id) => api.call('datasets.get', { id }));
  const { values: details, errors: detailErrors } = detailCache;

  const inspection = shallowRef<InspectResult | null>(null);
  const inspecting = ref(false);
  const inspectError = ref<string | null>(null);

  const running = ref<RunningImport | null>(null);
  const lastImport = shallowRef<ImportResult | null>(null);
  const importError = ref<string | null>(null);
  const cancelled = ref(false);

  const deleting = ref<number | null>(null);
  const deleteError = ref<{ id: number; message: string } | null>(null);

  /** Always asks again: versions and splits change the detail without changing the list. */
  function get(id: number): Promise<DatasetDetail | null> {
    return detailCache.get(id, true);
  }

  async function inspect(req: InspectRequest): Promise<InspectResult | null> {
    inspecting.value = true;
    inspectError.value = null;
    try {
      inspection.value = await api.call('datasets.inspect', req);
      return inspection.value;
    } catch (err) {
      inspection.value = null;
      inspectError.value = errorMessage(err);
      return null;
    } finally {
      inspecting.value = false;
    }
  }

  function clearInspection(): void {
    inspection.value = null;
    inspectError.value = null;
  }

  /** Progress events can overtake the call: keep the latest per import id. */
  const latestProgress = new Map<string, ImportProgressEvent>();
  api.on('datasets.importProgress', (e) => {
    latestProgress.set(e.importId, e);
    if (running.value?.importId === e.importId) running.value = { ...running.value, progress: e };
  });

  async function startImport(req: ImportRequest): Promise<ImportResult | null> {
    if (running.value) return null;
    const importId = newImportId();
    running.value = { importId, path: req.path, startedAt: Date.now(), progress: latestProgress.get(importId) ?? null, cancelling: false };
    importError.value = null;
    cancelled.value = false;
    lastImport.value = null;
    try {
      const result = await api.call('datasets.import', { ...req, importId });
      lastImport.value = result;
      void load();
      return result;
    } catch (err) {
      const msg = errorMessage(err);
      if (running.value?.cancelling || /cancelled/.test(msg)) cancelled.value = true;
      else importError.value = msg;
      return null;
    } finally {
      latestProgress.delete(importId);
      running.value = null;
    }
  }

  async function cancelImport(): Promise<void> {
    const r = running.value;
    if (!r || r.cancelling) return;
    running.value = { ...r, cancelling: true };
    try {
      await api.call('datasets.cancelImport', { importId: r.importId });
    } catch (err) {
      importError.value = errorMessage(err);
    }
  }

  function dismissImport(): void {
    lastImport.value = null;
    importError.value = null;
    cancelled.value = false;
  }

  function preview(req: PreviewRequest): Promise<PreviewResult> {
    return api.call('datasets.preview', req);
  }

  function stats(req: StatsRequest): Promise<DatasetStats> {
    return api.call('datasets.stats', req);
  }

  async function split(id: number, evalFraction: number, seed: number): Promise<void> {
    await api.call('datasets.split', { id, evalFraction, seed });
    await Promise.all([get(id), load()]);
  }

  async function remove(id: number): Promise<boolean> {
    deleting.value = id;
    deleteError.value = null;
    try {
      await api.call('datasets.delete', { id });
      datasets.value = datasets.value.filter((d) => d.id !== id);
      detailCache.forget(id);
      return true;
    } catch (err) {
      deleteError.value = { id, message: errorMessage(err) };
      return false;
    } finally {
      deleting.value = null;
    }
  }

  /** The desktop shell's native pickers (a dataset file, or a folder of them); null when cancelled. */
  const canPickNatively = api.kind === 'desktop';
  async function pickFolder(): Promise<string | null> {
    const { path } = await api.call('dialog.pickFolder', { title: 'Choose a folder of dataset files' });
    return path;
  }
  async function pickFile(): Promise<string | null> {
    const extensions = Object.keys(DATASET_EXTENSIONS).map((e) => e.slice(1));
    const { path } = await api.call('dialog.pickFile', { title: 'Choose a dataset file', filters: [{ name: 'Datasets', extensions }] });
    return path;
  }

  const byId = computed(() => new Map(datasets.value.map((d) => [d.id, d])));

  api.on('datasets.changed', ({ id }) => {
    // Reload the list first: a deleted dataset must be dropped, not fetched again (404).
    void load().then(() => {
      if (id === null || !details.value[id]) return;
      if (byId.value.has(id)) void get(id);
      else detailCache.forget(id);
    });
  });
  onReconnected(() => void load());

  return {
    datasets,
    loaded,
    loading,
    error,
    details,
    detailErrors,
    inspection,
    inspecting,
    inspectError,
    running,
    lastImport,
    importError,
    cancelled,
    deleting,
    deleteError,
    canPickNatively,
    byId,
    load,
    get,
    inspect,
    clearInspection,
    startImport,
    cancelImport,
    dismissImport,
    preview,
    stats,
    split,
    remove,
    pickFolder,
    pickFile,
  };
});
