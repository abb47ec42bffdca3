/**
 * Training runs: the history (with notes and tags), run details, live progress of the runs a page
 * shows (metric history + step/eval/sample events, merged without duplicates), the controls
 * (create, pause, resume, cancel, delete), presets, and the engine's estimate for a config.
 *
 * A page "attaches" to a run to see it live: events for it are held from that moment, its stored
 * metrics are loaded, then the held events are merged (components/runs/metric-series.ts). After
 * the link to the engine was down, every attached run is loaded again from scratch.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type {
  AdapterDetail,
  AdapterSummary,
  CallArgs,
  RunAnnotation,
  RunConfigInput,
  RunDetail,
  RunEstimate,
  RunPreset,
  RunStatus,
  RunSummary,
  SampleEvent,
  StepEvent,
} from '../../../shared/contract';
import { api } from '../api';
import { errorMessage } from '../format';
import { RunMetricsLog } from '../components/runs/metric-series';
import { onReconnected } from './connection';
import { useKeyedLoadable, useLoadable } from './loadable';

export type PresetSettings = CallArgs<'presets.save'>['config'];

/** What a page shows of one run while attached. */
export interface AttachedRun {
  log: RunMetricsLog;
  /** The latest step event (progress, ETA, memory), if one arrived since attaching. */
  lastStep: StepEvent | null;
  samples: SampleEvent[];
  loading: boolean;
  error: string | null;
}

function sampleKey(s: SampleEvent): string {
  return `${s.step}\u0000${s.prompt}`;
}

export const useRunsStore = defineStore('runs', () => {
  const runs = shallowRef<RunSummary[]>([]);
  const annotations = shallowRef<Record<number, RunAnnotation>>({});
  const { loaded, loading, error, load } = useLoadable(async () => {
    const [list, notes] = await Promise.all([api.call('runs.list', {}), api.call('runs.annotations', {})]);
    runs.value = list;
    annotations.value = Object.fromEntries(notes.map((a) => [a.id, a]));
  });

  const detailCache = useKeyedLoadable((id) => api.call('runs.get', { id }));
  const { values: details, errors: detailErrors } = detailCache;

  const presets = shallowRef<RunPreset[]>([]);
  const presetsError = ref<string | null>(null);

  /** Per attached run; charts watch `version` (bumped on every change) instead of deep reactivity. */
  const attached = new Map<number, AttachedRun>();
  const version = ref(0);
  const bump = () => version.value++;

  /** Which control is working on which run, for buttons' busy state. */
  const busy = ref<{ id: number; action: 'pause' | 'resume' | 'cancel' | 'delete' } | null>(null);
  const actionError = ref<{ id: number; message: string } | null>(null);

  function upsert(summary: RunSummary): void {
    const i = runs.value.findIndex((r) => r.id === summary.id);
    runs.value = i < 0 ? [summary, ...runs.value] : runs.value.map((r) => (r.id === summary.id ? summary : r));
    const d = details.value[summary.id];
    if (d) details.value = { ...details.value, [summary.id]: { ...d, ...summary } };
  }

  /** Always asks again (a run's detail changes while it trains); samples join an attached run's. */
  async function get(id: number): Promise<RunDetail | null> {
    const d = await detailCache.get(id, true);
    const a = attached.get(id);
    if (d && a) {
      mergeSamples(a, d.samples);
      bump();
    }
    return d;
  }

  function mergeSamples(a: AttachedRun, incoming: SampleEvent[]): void {
    const seen = new Set(a.samples.map(sampleKey));
    const fresh = incoming.filter((s) => !seen.has(sampleKey(s)));
    if (fresh.length) a.samples = [...a.samples, ...fresh].sort((x, y) => x.step - y.step);
  }

  /** Starts showing a run live: held events, then stored history, then the held events merged. */
  async function attach(id: number): Promise<AttachedRun> {
    let a = attached.get(id);
    if (a && (a.log.synced || a.loading)) return a;
    a ??= { log: new RunMetricsLog(), lastStep: null, samples: [], loading: true, error: null };
    a.loading = true;
    a.error = null;
    attached.set(id, a);
    bump();
    try {
      const [metrics] = await Promise.all([api.call('runs.metrics', { id }), get(id)]);
      a.log.load(metrics);
      const err = detailErrors.value[id];
      a.error = err ?? null;
    } catch (err) {
      a.error = errorMessage(err);
    } finally {
      a.loading = false;
      bump();
    }
    return a;
  }

  function detach(id: number): void {
    attached.delete(id);
  }

  function attachedRun(id: number): AttachedRun | null {
    return attached.get(id) ?? null;
  }

  api.on('runs.changed', (s) => {
    upsert(s);
    // A status change (finished, failed, resumed) also changes checkpoints and the adapter.
    if (attached.has(s.id)) void get(s.id);
  });
  api.on('runs.step', (ev) => {
    const a = attached.get(ev.runId);
    if (a) {
      a.log.step(ev);
      a.lastStep = ev;
      bump();
    }
    const r = runs.value.find((x) => x.id === ev.runId);
    if (r) upsert({ ...r, status: r.status === 'queued' ? 'running' : r.status, step: ev.step, totalSteps: ev.totalSteps, lastLoss: ev.loss });
  });
  api.on('runs.eval', (ev) => {
    const a = attached.get(ev.runId);
    if (a) {
      a.log.eval(ev);
      bump();
    }
    const r = runs.value.find((x) => x.id === ev.runId);
    if (r) upsert({ ...r, lastEvalLoss: ev.evalLoss });
  });
  api.on('runs.checkpoint', (ev) => {
    if (attached.has(ev.runId)) void get(ev.runId);
  });
  api.on('runs.sample', (ev) => {
    const a = attached.get(ev.runId);
    if (a) {
      mergeSamples(a, [ev]);
      bump();
    }
  });
  api.on('runs.annotated', (a) => {
    annotations.value = { ...annotations.value, [a.id]: a };
  });
  api.on('runs.deleted', ({ id }) => forget(id));
  api.on('presets.changed', () => void loadPresets());

  onReconnected(() => {
    void load();
    // Events were missed while the link was down: every attached run starts over.
    for (const [id, a] of attached) {
      a.log.reset();
      a.lastStep = null;
      void attach(id);
    }
  });

  function forget(id: number): void {
    runs.value = runs.value.filter((r) => r.id !== id);
    detailCache.forget(id);
    const { [id]: _a, ...restNotes } = annotations.value;
    annotations.value = restNotes;
    attached.delete(id);
    bump();
  }

  async function control(id: number, action: 'pause' | 'resume' | 'cancel', step?: number): Promise<boolean> {
    busy.value = { id, action };
    actionError.value = null;
    try {
      const s =
        action === 'pause'
          ? await api.call('runs.pause', { id })
          : action === 'cancel'
            ? await api.call('runs.cancel', { id })
            : await api.call('runs.resume', step === undefined ? { id } : { id, step });
      upsert(s);
      return true;
    } catch (err) {
      actionError.value = { id, message: errorMessage(err) };
      return false;
    } finally {
      busy.value = null;
    }
  }

  async function remove(id: number): Promise<boolean> {
    busy.value = { id, action: 'delete' };
    actionError.value = null;
    try {
      await api.call('runs.delete', { id });
      forget(id);
      return true;
    } catch (err) {
      actionError.value = { id, message: errorMessage(err) };
      return false;
    } finally {
      busy.value = null;
    }
  }

  /** Throws with the engine's reason (the new-run page shows it). */
  async function create(config: RunConfigInput): Promise<RunSummary> {
    const s = await api.call('runs.create', { config });
    upsert(s);
    return s;
  }

  /** The engine's figures for a config; throws with its reason when it refuses the config. */
  function estimate(config: RunConfigInput): Promise<RunEstimate> {
    return api.call('runs.estimate', { config });
  }

  async function setNotes(id: number, notes: string): Promise<void> {
    const a = await api.call('runs.setNotes', { id, notes });
    annotations.value = { ...annotations.value, [id]: a };
  }

  async function setTags(id: number, tags: string[]): Promise<void> {
    const a = await api.call('runs.setTags', { id, tags });
    annotations.value = { ...annotations.value, [id]: a };
  }

  async function loadPresets(): Promise<void> {
    try {
      presets.value = await api.call('presets.list', {});
      presetsError.value = null;
    } catch (err) {
      presetsError.value = errorMessage(err);
    }
  }

  async function savePreset(name: string, config: PresetSettings): Promise<RunPreset> {
    const p = await api.call('presets.save', { name, config });
    await loadPresets();
    return p;
  }

  async function deletePreset(id: number): Promise<void> {
    await api.call('presets.delete', { id });
    presets.value = presets.value.filter((p) => p.id !== id);
  }

  /** Adapters trained on (or imported for) a base model, for "continue training an adapter". */
  function adaptersFor(modelId: number): Promise<AdapterSummary[]> {
    return api.call('adapters.list', { baseModelId: modelId });
  }

  /** An adapter's details: its adapter_config.json names exactly which modules it adapts. */
  function adapterDetail(id: number): Promise<AdapterDetail> {
    return api.call('adapters.get', { id });
  }

  /**
   * Puts a checkpoint's adapter into the adapter library (where the export buttons are), named
   * after the run and step.
   */
  async function checkpointToLibrary(run: RunDetail, step: number): Promise<AdapterSummary> {
    const ckpt = run.checkpoints.find((c) => c.step === step);
    if (!ckpt) throw new Error(`run ${run.id} has no checkpoint at step ${step}`);
    const model = run.modelId ?? run.config.model;
    const dir = `${ckpt.path.replace(/[\\/]+$/, '')}/adapter`;
    return api.call('adapters.import', { dir, model, name: `${run.name} · step ${step}` });
  }

  /** Metrics of finished runs, e.g. a past run's speed on this model (tokens/s). */
  function metricsOf(id: number, names: string[]) {
    return api.call('runs.metrics', { id, names });
  }

  const byId = computed(() => new Map(runs.value.map((r) => [r.id, r])));
  const statusCounts = computed(() => {
    const counts: Partial<Record<RunStatus, number>> = {};
    for (const r of runs.value) counts[r.status] = (counts[r.status] ?? 0) + 1;
    return counts;
  });

  return {
    runs,
    loaded,
    loading,
    error,
    annotations,
    details,
    detailErrors,
    presets,
    presetsError,
    version,
    busy,
    actionError,
    byId,
    statusCounts,
    load,
    get,
    attach,
    detach,
    attachedRun,
    control,
    remove,
    create,
    estimate,
    setNotes,
    setTags,
    loadPresets,
    savePreset,
    deletePreset,
    adaptersFor,
    adapterDetail,
    checkpointToLibrary,
    metricsOf,
  };
});
