/**
 * The adapter and export stores against a scripted transport: export events that overtake the
 * answer to `exports.start` (the web shell's WebSocket vs HTTP) still land on the job; a finished
 * event is never overwritten by the older "running" answer; an import the engine's check refuses
 * stores nothing and keeps the reasons; library events keep the list and loaded details current.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createPinia, setActivePinia } from 'pinia';
import type { AdapterCheckReport, AdapterDetail, AdapterSummary, ExportProgressEvent, ExportRecord } from '../../src/shared/contract';

type Listener = (payload: unknown) => void;

const fake = vi.hoisted(() => {
  const listeners = new Map<string, Listener[]>();
  const handlers = new Map<string, (args: unknown) => unknown>();
  const calls: { name: string; args: unknown }[] = [];
  return {
    listeners,
    handlers,
    calls,
    emit(name: string, payload: unknown) {
      for (const l of listeners.get(name) ?? []) l(payload);
    },
    reset() {
      listeners.clear();
      handlers.clear();
      calls.length = 0;
    },
  };
});

vi.mock('../../src/renderer/src/api', () => ({
  api: {
    kind: 'web',
    connection: { get: () => ({ state: 'connected' }), subscribe: () => () => {} },
    async call(name: string, args: unknown) {
      fake.calls.push({ name, args });
      const h = fake.handlers.get(name);
      if (!h) throw new Error(`no handler for ${name}`);
      return h(args);
    },
    on(name: string, listener: Listener) {
      fake.listeners.set(name, [...(fake.listeners.get(name) ?? []), listener]);
      return () => {};
    },
  },
}));

/*
 * The stores are loaded by a computed path: a literal import would make the Node type-check
 * (tsconfig.node.json, no DOM) follow them into the browser-only api module. Their shape, as Pinia
 * unwraps it, is spelled out below instead.
 */
interface ExportsStore {
  records: Record<number, ExportRecord>;
  progress: Record<number, ExportProgressEvent>;
  listed: Record<number, 'loading' | 'loaded'>;
  starting: unknown;
  startError: { adapterId: number; kind: string; message: string } | null;
  cancelling: Record<number, boolean>;
  start(req: { adapterId: number; kind: 'peft' | 'merged' | 'gguf'; out: string }): Promise<ExportRecord | null>;
  cancel(id: number): Promise<void>;
  loadFor(adapterId: number): Promise<void>;
  forAdapter(adapterId: number): ExportRecord[];
}
interface AdaptersStore {
  adapters: AdapterSummary[];
  details: Record<number, AdapterDetail>;
  byId: Map<number, AdapterSummary>;
  importing: string | null;
  importRefusal: { dir: string; model: number; report: AdapterCheckReport } | null;
  load(): Promise<void>;
  show(id: number): Promise<AdapterDetail | null>;
  importFolder(dir: string, model: number, name?: string): Promise<AdapterSummary | null>;
  rename(id: number, name: string): Promise<string | null>;
  remove(id: number): Promise<{ path: string; filesDeleted: boolean } | null>;
}
const storePath = (name: string) => `../../src/renderer/src/stores/${name}`;
const { useExportsStore } = (await import(/* @vite-ignore */ storePath('exports'))) as { useExportsStore: () => ExportsStore };
const { useAdaptersStore } = (await import(/* @vite-ignore */ storePath('adapters'))) as { useAdaptersStore: () => AdaptersStore };

function record(id: number, status: ExportRecord['status'], extra: Partial<ExportRecord> = {}): ExportRecord {
  return { id, adapterId: 7, kind: 'merged', path: `/x/out-${id}`, status, options: {}, result: null, error: null, createdAt: '2026-01-01T00:00:00Z', finishedAt: null, ...extra };
}

function progress(id: number, done: number): ExportProgressEvent {
  return { id, kind: 'merged', phase: 'write', done, total: 100, fraction: done / 100, bytesPerSecond: 50, etaSeconds: (100 - done) / 50 };
}

function summary(id: number, extra: Partial<AdapterSummary> = {}): AdapterSummary {
  return {
    id,
    name: `a${id}`,
    source: 'import',
    path: `/data/adapters/a${id}`,
    baseModelId: 1,
    baseModelName: 'tiny',
    runId: null,
    checkpointId: null,
    parentAdapterId: null,
    datasetVersionId: null,
    rank: 8,
    alpha: 16,
    targets: ['q_proj'],
    layers: null,
    sizeBytes: 1000,
    sha256: 'ab',
    tags: [],
    notes: '',
    hasTemplate: false,
    createdAt: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

beforeEach(() => {
  fake.reset();
  setActivePinia(createPinia());
});

describe('exports store', () => {
  it('keeps progress that arrived before the start answer, and drops it when the job ends', async () => {
    const store = useExportsStore();
    fake.handlers.set('exports.start', () => {
      // The engine's first progress event overtakes its answer.
      fake.emit('exports.progress', progress(3, 40));
      return record(3, 'running');
    });
    const rec = await store.start({ adapterId: 7, kind: 'merged', out: '/x/out-3' });
    expect(rec?.id).toBe(3);
    expect(store.progress[3].done).toBe(40);
    expect(store.forAdapter(7).map((r) => r.status)).toEqual(['running']);
    fake.emit('exports.progress', progress(3, 80));
    expect(store.progress[3].etaSeconds).toBeCloseTo(0.4);
    fake.emit('exports.finished', record(3, 'completed', { result: { kind: 'merged' } }));
    expect(store.records[3].status).toBe('completed');
    expect(store.progress[3]).toBeUndefined();
    // A late progress event for a finished job is ignored.
    fake.emit('exports.progress', progress(3, 90));
    expect(store.progress[3]).toBeUndefined();
  });

  it('never lets the older "running" answer overwrite a job that already finished', async () => {
    const store = useExportsStore();
    fake.handlers.set('exports.start', () => {
      fake.emit('exports.finished', record(4, 'failed', { error: 'the disk is full' }));
      return record(4, 'running');
    });
    await store.start({ adapterId: 7, kind: 'merged', out: '/x/out-4' });
    expect(store.records[4]).toMatchObject({ status: 'failed', error: 'the disk is full' });
  });

  it('keeps the engine’s refusal to start, by adapter and kind', async () => {
    const store = useExportsStore();
    fake.handlers.set('exports.start', () => {
      throw new Error('/x/out already exists; choose another destination or remove it first');
    });
    expect(await store.start({ adapterId: 7, kind: 'gguf', out: '/x/out' })).toBeNull();
    expect(store.startError).toEqual({ adapterId: 7, kind: 'gguf', message: '/x/out already exists; choose another destination or remove it first' });
    expect(store.starting).toBeNull();
  });

  it('lists an adapter’s exports newest first and marks a cancel until the job ends', async () => {
    const store = useExportsStore();
    fake.handlers.set('exports.list', () => [record(1, 'completed'), record(2, 'running'), record(5, 'cancelled', { adapterId: 8 })]);
    await store.loadFor(7);
    expect(store.listed[7]).toBe('loaded');
    expect(store.forAdapter(7).map((r) => r.id)).toEqual([2, 1]);
    fake.handlers.set('exports.cancel', () => record(2, 'running'));
    await store.cancel(2);
    expect(store.cancelling[2]).toBe(true);
    fake.emit('exports.finished', record(2, 'cancelled', { error: 'export cancelled; nothing was left in /x' }));
    expect(store.cancelling[2]).toBeUndefined();
    expect(store.records[2].status).toBe('cancelled');
  });
});

describe('adapters store', () => {
  it('shows the engine’s reasons when its check refuses a folder, and imports nothing', async () => {
    const store = useAdaptersStore();
    const report: AdapterCheckReport = { ok: false, problems: ['task_type is SEQ_CLS', 'it contains a classification head'], modelType: 'gpt2', modules: 0, targets: [], layers: null, rank: 8, alpha: 8, baseModelInConfig: 'gpt2' };
    fake.handlers.set('adapters.check', () => report);
    expect(await store.importFolder('/fx/gpt2-seqcls/', 2)).toBeNull();
    expect(store.importRefusal).toEqual({ dir: '/fx/gpt2-seqcls', model: 2, report });
    expect(fake.calls.map((c) => c.name)).toEqual(['adapters.check']);
    expect(store.importing).toBeNull();
  });

  it('imports a folder that fits, under the typed name, into the list', async () => {
    const store = useAdaptersStore();
    fake.handlers.set('adapters.check', () => ({ ok: true, problems: [] }));
    fake.handlers.set('adapters.import', (args) => summary(9, { name: (args as { name: string }).name }));
    const a = await store.importFolder(' /fx/lora ', 1, ' mine ');
    expect(a?.name).toBe('mine');
    expect(fake.calls[1]).toEqual({ name: 'adapters.import', args: { dir: '/fx/lora', model: 1, name: 'mine' } });
    expect(store.adapters.map((x) => x.id)).toEqual([9]);
  });

  it('renames into the list and the loaded detail; deleting forgets both', async () => {
    const store = useAdaptersStore();
    fake.handlers.set('adapters.list', () => [summary(1), summary(2)]);
    fake.handlers.set('adapters.get', () => ({ ...summary(1), config: {}, files: [], modules: 2, rslora: false, template: null, baseModelPath: '/m', parentName: null, children: [] }) satisfies AdapterDetail);
    await store.load();
    await store.show(1);
    fake.handlers.set('adapters.rename', () => summary(1, { name: 'renamed' }));
    expect(await store.rename(1, ' renamed ')).toBeNull();
    expect(store.byId.get(1)?.name).toBe('renamed');
    expect(store.details[1].name).toBe('renamed');
    expect(store.details[1].modules).toBe(2);
    fake.handlers.set('adapters.delete', () => ({ id: 1, path: '/data/adapters/a1', filesDeleted: true }));
    expect(await store.remove(1)).toEqual({ path: '/data/adapters/a1', filesDeleted: true });
    expect(store.adapters.map((x) => x.id)).toEqual([2]);
    expect(store.details[1]).toBeUndefined();
  });

  it('follows library events: a deleted adapter leaves, a new one refreshes the loaded lineage', async () => {
    const store = useAdaptersStore();
    fake.handlers.set('adapters.list', () => [summary(1), summary(2)]);
    let children: AdapterDetail['children'] = [];
    fake.handlers.set('adapters.get', () => ({ ...summary(1), config: {}, files: [], modules: 2, rslora: false, template: null, baseModelPath: '/m', parentName: null, children }) satisfies AdapterDetail);
    await store.load();
    await store.show(1);
    children = [{ id: 3, name: 'a1 r4', source: 'resize' }];
    fake.handlers.set('adapters.list', () => [summary(1), summary(2), summary(3, { source: 'resize', parentAdapterId: 1 })]);
    fake.emit('adapters.changed', { id: 3, action: 'added' });
    await vi.waitFor(() => expect(store.details[1].children).toHaveLength(1));
    await vi.waitFor(() => expect(store.adapters).toHaveLength(3));
    fake.handlers.set('adapters.list', () => [summary(1), summary(3)]);
    fake.emit('adapters.changed', { id: 2, action: 'deleted' });
    expect(store.byId.has(2)).toBe(false);
  });
});
