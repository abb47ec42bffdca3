/**
 * The model library: registered models, snapshots found in the Hugging Face cache, model cards,
 * adding a folder (native picker in the desktop shell, server-side browsing in the web shell) and
 * removing one (the files stay on disk).
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { BrowseEntry, CachedModelInfo, ModelSummary } from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { onReconnected } from './connection';
import { useKeyedLoadable, useLoadable } from './loadable';

export interface FolderListing {
  path: string;
  parent: string | null;
  entries: BrowseEntry[];
}

export const useModelsStore = defineStore('models', () => {
  const models = shallowRef<ModelSummary[]>([]);
  const { loaded, loading, error, load } = useLoadable(async () => {
    models.value = await api.call('models.list', {});
  });

  const cached = shallowRef<CachedModelInfo[]>([]);
  const scanned = ref(false);
  const scanning = ref(false);
  const scanError = ref<string | null>(null);

  /** Model cards by id; a card reads the folder again, so it is fetched once per id and change. */
  const cardCache = useKeyedLoadable((id) => api.call('models.show', { id }));
  const { values: cards, loadingId: cardLoading, errors: cardErrors, get: show } = cardCache;

  /** The folder being registered (the engine reads its config, tokenizer and tensor headers). */
  const adding = ref<string | null>(null);
  const addError = ref<{ path: string; message: string } | null>(null);
  const removing = ref<number | null>(null);
  const removeError = ref<{ id: number; message: string } | null>(null);

  const canPickNatively = api.kind === 'desktop';

  async function scan(): Promise<void> {
    if (scanning.value) return;
    scanning.value = true;
    try {
      cached.value = await api.call('models.scan', {});
      scanError.value = null;
      scanned.value = true;
    } catch (err) {
      scanError.value = errorMessage(err);
    } finally {
      scanning.value = false;
    }
  }

  async function add(path: string, name?: string): Promise<ModelSummary | null> {
    const folder = path.trim();
    adding.value = folder;
    addError.value = null;
    try {
      const model = await api.call('models.add', name?.trim() ? { path: folder, name: name.trim() } : { path: folder });
      if (!models.value.some((m) => m.id === model.id)) models.value = [...models.value, model];
      // The cache list marks what is already in the library.
      cached.value = cached.value.map((c) => (c.path === model.path ? { ...c, registeredId: model.id } : c));
      return model;
    } catch (err) {
      addError.value = { path: folder, message: errorMessage(err) };
      return null;
    } finally {
      adding.value = null;
    }
  }

  function clearAddError(): void {
    addError.value = null;
  }

  async function remove(id: number): Promise<boolean> {
    removing.value = id;
    removeError.value = null;
    try {
      await api.call('models.remove', { id });
      models.value = models.value.filter((m) => m.id !== id);
      cached.value = cached.value.map((c) => (c.registeredId === id ? { ...c, registeredId: null } : c));
      return true;
    } catch (err) {
      removeError.value = { id, message: errorMessage(err) };
      return false;
    } finally {
      removing.value = null;
    }
  }

  /** The desktop shell's native folder picker; null when the user cancelled. */
  async function pickFolder(title: string): Promise<string | null> {
    const { path } = await api.call('dialog.pickFolder', { title });
    return path;
  }

  /** One folder of the user's home, for the web shell's folder browser. Throws with the engine's message. */
  function browse(path?: string): Promise<FolderListing> {
    return api.call('models.browse', path ? { path } : {});
  }

  const byId = computed(() => new Map(models.value.map((m) => [m.id, m])));

  // Added or removed elsewhere (another window, the CLI through a shared server).
  api.on('models.changed', ({ id }) => {
    if (id !== null) cardCache.forget(id);
    void load();
    if (scanned.value) void scan();
  });
  onReconnected(() => {
    void load();
    if (scanned.value) void scan();
  });

  return {
    models,
    loaded,
    loading,
    error,
    cached,
    scanned,
    scanning,
    scanError,
    cards,
    cardLoading,
    cardErrors,
    adding,
    addError,
    removing,
    removeError,
    canPickNatively,
    byId,
    load,
    scan,
    show,
    add,
    clearAddError,
    remove,
    pickFolder,
    browse,
  };
});
