/**
 * The adapter library: every adapter (trained, imported, resized, combined), its details and
 * lineage, its SVD spectrum, renaming/tagging/notes, deleting, and the operations that make new
 * adapters from it (import of a PEFT folder, resize, combine). Exports live in stores/exports.ts.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { AdapterCheckReport, AdapterSummary, CombineReport, ResizeReport } from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { onReconnected } from './connection';
import { useKeyedLoadable, useLoadable } from './loadable';

/** An import the engine refused before anything was stored: the folder, the model and why. */
export interface ImportRefusal {
  dir: string;
  model: number;
  report: AdapterCheckReport;
}

export const useAdaptersStore = defineStore('adapters', () => {
  const adapters = shallowRef<AdapterSummary[]>([]);
  const { loaded, loading, error, load } = useLoadable(async () => {
    adapters.value = await api.call('adapters.list', {});
  });

  const detailCache = useKeyedLoadable((id) => api.call('adapters.get', { id }));
  const { values: details, errors: detailErrors, loadingId: detailLoading, get: show } = detailCache;

  /** Spectra by adapter id: computed from the weights, so fetched once per adapter. */
  const spectrumCache = useKeyedLoadable((id) => api.call('adapters.svd', { id }));
  const { values: spectra, errors: spectrumErrors, loadingId: spectrumLoading, get: spectrum } = spectrumCache;

  /** The folder being checked and imported. */
  const importing = ref<string | null>(null);
  const importError = ref<string | null>(null);
  const importRefusal = shallowRef<ImportRefusal | null>(null);

  const deleting = ref<number | null>(null);
  const deleteError = ref<{ id: number; message: string } | null>(null);

  const resizing = ref<number | null>(null);
  const resizeError = ref<{ id: number; message: string } | null>(null);
  /** The last resize made from each adapter, shown under its spectrum. */
  const resized = shallowRef<Record<number, ResizeReport>>({});

  const combining = ref(false);
  const combineError = ref<string | null>(null);
  /** The last combination started from each adapter's page. */
  const combined = shallowRef<Record<number, CombineReport>>({});

  /** The desktop shell opens folders in the file manager; the web shell shows the path. */
  const canReveal = api.kind === 'desktop';

  /** A changed summary replaces the listed one and the summary part of a loaded detail. */
  function upsert(a: AdapterSummary): void {
    adapters.value = adapters.value.some((x) => x.id === a.id) ? adapters.value.map((x) => (x.id === a.id ? a : x)) : [...adapters.value, a];
    const d = details.value[a.id];
    if (d) details.value = { ...details.value, [a.id]: { ...d, ...a } };
  }

  function forget(id: number): void {
    adapters.value = adapters.value.filter((a) => a.id !== id);
    detailCache.forget(id);
    spectrumCache.forget(id);
  }

  /**
   * Checks the folder against the model first (nothing is stored), so a misfit is shown as the
   * engine's list of reasons; then imports it. Returns the new adapter, or null (see importError /
   * importRefusal).
   */
  async function importFolder(dir: string, model: number, name?: string): Promise<AdapterSummary | null> {
    const folder = dir.trim().replace(/(.)[\\/]+$/, '$1');
    importing.value = folder;
    importError.value = null;
    importRefusal.value = null;
    try {
      const report = await api.call('adapters.check', { dir: folder, model });
      if (!report.ok) {
        importRefusal.value = { dir: folder, model, report };
        return null;
      }
      const a = await api.call('adapters.import', name?.trim() ? { dir: folder, model, name: name.trim() } : { dir: folder, model });
      upsert(a);
      return a;
    } catch (err) {
      importError.value = errorMessage(err);
      return null;
    } finally {
      importing.value = null;
    }
  }

  function clearImportResult(): void {
    importError.value = null;
    importRefusal.value = null;
  }

  /** Renames; the engine's message when it refuses. */
  async function rename(id: number, name: string): Promise<string | null> {
    try {
      upsert(await api.call('adapters.rename', { id, name: name.trim() }));
      return null;
    } catch (err) {
      return errorMessage(err);
    }
  }

  async function setTags(id: number, tags: string[]): Promise<string | null> {
    try {
      upsert(await api.call('adapters.setTags', { id, tags }));
      return null;
    } catch (err) {
      return errorMessage(err);
    }
  }

  async function setNotes(id: number, notes: string): Promise<string | null> {
    try {
      upsert(await api.call('adapters.setNotes', { id, notes }));
      return null;
    } catch (err) {
      return errorMessage(err);
    }
  }

  /** Deletes the adapter with its files (those inside the data dir). */
  async function remove(id: number): Promise<{ path: string; filesDeleted: boolean } | null> {
    deleting.value = id;
    deleteError.value = null;
    try {
      const r = await api.call('adapters.delete', { id });
      forget(id);
      return { path: r.path, filesDeleted: r.filesDeleted };
    } catch (err) {
      deleteError.value = { id, message: errorMessage(err) };
      return null;
    } finally {
      deleting.value = null;
    }
  }

  /** Opens the adapter's folder in the file manager (desktop). Throws with the engine's message. */
  function reveal(id: number): Promise<{ path: string; opened: boolean }> {
    return api.call('adapters.reveal', { id });
  }

  async function resize(id: number, rank: number, name?: string): Promise<ResizeReport | null> {
    resizing.value = id;
    resizeError.value = null;
    try {
      const report = await api.call('adapters.resize', name?.trim() ? { id, rank, name: name.trim() } : { id, rank });
      upsert(report.adapter);
      resized.value = { ...resized.value, [id]: report };
      return report;
    } catch (err) {
      resizeError.value = { id, message: errorMessage(err) };
      return null;
    } finally {
      resizing.value = null;
    }
  }

  /** Combines `items` (the first is the adapter whose page started it) into a new adapter. */
  async function combine(items: { id: number; weight: number }[], rank: number | null, name?: string): Promise<CombineReport | null> {
    combining.value = true;
    combineError.value = null;
    try {
      const report = await api.call('adapters.combine', {
        items,
        ...(rank !== null ? { rank } : {}),
        ...(name?.trim() ? { name: name.trim() } : {}),
      });
      upsert(report.adapter);
      combined.value = { ...combined.value, [items[0].id]: report };
      return report;
    } catch (err) {
      combineError.value = errorMessage(err);
      return null;
    } finally {
      combining.value = false;
    }
  }

  const byId = computed(() => new Map(adapters.value.map((a) => [a.id, a])));
  const allTags = computed(() => [...new Set(adapters.value.flatMap((a) => a.tags))].sort((a, b) => a.localeCompare(b)));

  // Added, changed or deleted elsewhere (a run finishing, the CLI through a shared server, another window).
  api.on('adapters.changed', ({ id, action }) => {
    if (action === 'deleted') forget(id);
    // A new or deleted adapter changes the lineage (children) shown on the pages already loaded.
    for (const key of Object.keys(details.value).map(Number)) if (key === id || action !== 'updated') void show(key, true);
    void load();
  });
  onReconnected(() => {
    void load();
    for (const id of Object.keys(details.value)) void show(Number(id), true);
  });

  return {
    adapters,
    loaded,
    loading,
    error,
    details,
    detailErrors,
    detailLoading,
    spectra,
    spectrumErrors,
    spectrumLoading,
    importing,
    importError,
    importRefusal,
    deleting,
    deleteError,
    resizing,
    resizeError,
    resized,
    combining,
    combineError,
    combined,
    canReveal,
    byId,
    allTags,
    load,
    show,
    spectrum,
    importFolder,
    clearImportResult,
    rename,
    setTags,
    setNotes,
    remove,
    reveal,
    resize,
    combine,
  };
});
