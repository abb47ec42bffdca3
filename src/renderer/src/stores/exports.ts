/**
 * Export jobs of adapters (PEFT folder, merged model, GGUF + Modelfile): start, live progress with
 * rate and ETA, cancel, and how each ended (the verification result or the cause of a failure).
 *
 * Progress events can overtake the answer to `exports.start` (the web shell sends events on a
 * WebSocket and answers calls over HTTP); they are kept by export id, so they apply whenever the
 * record arrives. Reopening the page lists the adapter's exports again, running ones included.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { CallArgs, ExportKind, ExportProgressEvent, ExportRecord } from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { onReconnected } from './connection';

export type ExportStartRequest = CallArgs<'exports.start'>;

export const useExportsStore = defineStore('exports', () => {
  const records = shallowRef<Record<number, ExportRecord>>({});
  /** The latest progress of each running export. */
  const progress = shallowRef<Record<number, ExportProgressEvent>>({});
  /** Adapters whose export history was listed (and is kept current by events). */
  const listed = ref<Record<number, 'loading' | 'loaded'>>({});
  const listErrors = ref<Record<number, string>>({});

  /** The export kind being started, per adapter. */
  const starting = ref<{ adapterId: number; kind: ExportKind } | null>(null);
  const startError = ref<{ adapterId: number; kind: ExportKind; message: string } | null>(null);
  const cancelling = ref<Record<number, boolean>>({});
  const cancelErrors = ref<Record<number, string>>({});

  function put(rec: ExportRecord): void {
    records.value = { ...records.value, [rec.id]: rec };
    if (rec.status !== 'running' && progress.value[rec.id]) {
      const { [rec.id]: _done, ...rest } = progress.value;
      progress.value = rest;
    }
  }

  async function loadFor(adapterId: number): Promise<void> {
    listed.value = { ...listed.value, [adapterId]: listed.value[adapterId] ?? 'loading' };
    try {
      const list = await api.call('exports.list', { adapterId });
      const next = { ...records.value };
      for (const r of list) next[r.id] = r;
      records.value = next;
      listed.value = { ...listed.value, [adapterId]: 'loaded' };
      const { [adapterId]: _ok, ...rest } = listErrors.value;
      listErrors.value = rest;
    } catch (err) {
      listErrors.value = { ...listErrors.value, [adapterId]: errorMessage(err) };
    }
  }

  /** Starts an export; null when the engine refused (see startError). */
  async function start(req: ExportStartRequest): Promise<ExportRecord | null> {
    starting.value = { adapterId: req.adapterId, kind: req.kind };
    startError.value = null;
    try {
      const rec = await api.call('exports.start', req);
      // The finished event may have come first: keep the newer record.
      if (!records.value[rec.id] || records.value[rec.id].status === 'running') put(rec);
      return rec;
    } catch (err) {
      startError.value = { adapterId: req.adapterId, kind: req.kind, message: errorMessage(err) };
      return null;
    } finally {
      starting.value = null;
    }
  }

  function clearStartError(): void {
    startError.value = null;
  }

  async function cancel(id: number): Promise<void> {
    cancelling.value = { ...cancelling.value, [id]: true };
    const { [id]: _old, ...rest } = cancelErrors.value;
    cancelErrors.value = rest;
    try {
      const rec = await api.call('exports.cancel', { id });
      if (rec.status !== 'running') put(rec);
    } catch (err) {
      cancelErrors.value = { ...cancelErrors.value, [id]: errorMessage(err) };
      cancelling.value = { ...cancelling.value, [id]: false };
    }
  }

  /** An adapter's exports, newest first. */
  function forAdapter(adapterId: number): ExportRecord[] {
    return Object.values(records.value)
      .filter((r) => r.adapterId === adapterId)
      .sort((a, b) => b.id - a.id);
  }

  const running = computed(() => Object.values(records.value).filter((r) => r.status === 'running'));

  api.on('exports.progress', (ev) => {
    if (records.value[ev.id] && records.value[ev.id].status !== 'running') return;
    progress.value = { ...progress.value, [ev.id]: ev };
  });
  api.on('exports.finished', (rec) => {
    put(rec);
    if (cancelling.value[rec.id]) {
      const { [rec.id]: _done, ...rest } = cancelling.value;
      cancelling.value = rest;
    }
  });
  // Jobs may have ended while the link was down: list again.
  onReconnected(() => {
    for (const id of Object.keys(listed.value)) void loadFor(Number(id));
  });

  return {
    records,
    progress,
    listed,
    listErrors,
    starting,
    startError,
    cancelling,
    cancelErrors,
    running,
    loadFor,
    start,
    clearStartError,
    cancel,
    forAdapter,
  };
});
