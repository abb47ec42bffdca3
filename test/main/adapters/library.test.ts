import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../../src/main/engine';
import { AdapterLibrary } from '../../../src/main/adapters/library';
import { ADAPTER_WEIGHTS, readAdapterWeights } from '../../../src/main/adapters/peft-files';
import { exportsService } from '../../../src/main/export/service';
import { ModelsService } from '../../../src/main/services/models';
import { createExportsRepo } from '../../../src/main/storage/repos/exports';
import { SafetensorsReader } from '../../../src/main/ml/safetensors';
import { TINY_LLAMA, adapterDir } from './fixtures';
import { LLAMA_MODULES, writeTestAdapter } from '../export/helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'adapter-library-'));
let engine: Engine;
let lib: AdapterLibrary;
let modelId: number;
const srcA = writeTestAdapter(path.join(tmp, 'src-a'), LLAMA_MODULES, { seed: 21, scale: 0.5 });
const srcB = writeTestAdapter(path.join(tmp, 'src-b'), LLAMA_MODULES.slice(0, 2), { seed: 22, scale: 0.5, r: 2, alpha: 2 });

beforeAll(() => {
  engine = Engine.open({ dataDir: path.join(tmp, 'data'), shell: 'cli' });
  modelId = new ModelsService(engine).add(TINY_LLAMA, 'tiny-llama').id;
  lib = new AdapterLibrary(engine);
});
afterAll(async () => {
  await engine.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function factorBytes(dir: string): Map<string, Buffer> {
  const r = SafetensorsReader.open(path.join(dir, ADAPTER_WEIGHTS));
  const out = new Map([...r.tensors.keys()].map((k) => [k, Buffer.from(r.readBytes(k))]));
  r.close();
  return out;
}

describe('adapter library', () => {
  it('imports a PEFT folder against a model, with its base, targets, rank, size and sha256', () => {
    const events: unknown[] = [];
    const off = engine.events.on('adapters.changed', (e) => events.push(e));
    const a = lib.import(srcA, modelId, 'alpha');
    off();
    expect(a).toMatchObject({ name: 'alpha', source: 'import', baseModelId: modelId, baseModelName: 'tiny-llama', rank: 4, alpha: 8, targets: ['down_proj', 'k_proj', 'q_proj', 'v_proj'], layers: null });
    expect(a.path.startsWith(engine.paths.adapters)).toBe(true);
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(events).toEqual([{ id: a.id, action: 'added' }]);
    // the library copy holds the same tensors, canonically named
    expect(factorBytes(a.path)).toEqual(factorBytes(srcA));
    const d = lib.get(a.id);
    expect(d.modules).toBe(8);
    expect(d.baseModelPath).toBe(TINY_LLAMA);
    expect(d.files.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('refuses an adapter for another base, saying why, and stores nothing', () => {
    const before = lib.list().length;
    expect(() => lib.import(adapterDir('qwen2.5-0.5b-instruct-q_v-r8'), modelId)).toThrow(/cannot be used with tiny-llama: .*layers up to 23 but tiny-llama has 2/);
    expect(() => lib.import(adapterDir('gpt2-seqcls-c_attn-r8'), modelId)).toThrow(/task_type is SEQ_CLS/);
    expect(lib.list().length).toBe(before);
    expect(lib.check(adapterDir('qwen2.5-0.5b-instruct-q_v-r8'), modelId).ok).toBe(false);
  });

  it('renames, tags, notes, reveals and lists by tag', () => {
    const a = lib.resolve('alpha');
    expect(lib.rename(a.id, 'alpha v2').name).toBe('alpha v2');
    expect(lib.setTags(a.id, ['chat', ' chat ', 'fr']).tags).toEqual(['chat', 'fr']);
    expect(lib.setNotes(a.id, 'first try').notes).toBe('first try');
    expect(lib.list({ tag: 'fr' }).map((x) => x.id)).toEqual([a.id]);
    expect(lib.list({ tag: 'none' })).toEqual([]);
    const opened: string[] = [];
    expect(lib.reveal(a.id, (p) => (opened.push(p), true))).toEqual({ path: a.path, opened: true });
    expect(opened).toEqual([a.path]);
  });

  it('resizes and combines into new adapters with their parent recorded', () => {
    const a = lib.resolve('alpha v2');
    const r = lib.resize(a.id, 2);
    expect(r.adapter).toMatchObject({ source: 'resize', parentAdapterId: a.id, rank: 2, alpha: 4, baseModelId: modelId });
    expect(r.modules.every((m) => m.energyKept > 0 && m.energyKept < 1)).toBe(true);
    const b = lib.import(srcB, modelId, 'beta');
    const c = lib.combine([{ id: a.id, weight: 1 }, { id: b.id, weight: 0.5 }]);
    expect(c.adapter).toMatchObject({ source: 'combine', parentAdapterId: a.id, baseModelId: modelId });
    expect(lib.get(a.id).children.map((x) => x.source).sort()).toEqual(['combine', 'resize']);
    const s = lib.svd(c.adapter.id);
    expect(s.modules.length).toBe(8);
    // combine(A:1, B:0) is A
    const same = lib.combine([{ id: a.id, weight: 1 }, { id: b.id, weight: 0 }]);
    expect(factorBytes(same.adapter.path)).toEqual(factorBytes(a.path));
  });

  it('export → import round trip gives identical tensors (PEFT export through the job service)', async () => {
    const a = lib.resolve('alpha v2');
    const svc = exportsService(engine);
    const out = path.join(tmp, 'exported-peft');
    const rec = svc.start({ adapterId: a.id, kind: 'peft', out, dtype: 'auto', ggufType: 'f16', modelfile: false, verify: true });
    const done = await svc.wait(rec.id);
    expect(done.status).toBe('completed');
    expect(fs.readdirSync(out).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toMatch(/^---\nbase_model: .*\nlibrary_name: peft/);
    const back = lib.import(out, modelId, 'round trip');
    expect(factorBytes(back.path)).toEqual(factorBytes(a.path));
    const w1 = readAdapterWeights(a.path);
    const w2 = readAdapterWeights(back.path);
    expect(w2.config.tree).toEqual(w1.config.tree);
  });

  it('export jobs: destination exists is refused, a merged export records its logits check', async () => {
    const a = lib.resolve('alpha v2');
    const svc = exportsService(engine);
    expect(() => svc.start({ adapterId: a.id, kind: 'peft', out: path.join(tmp, 'exported-peft'), dtype: 'auto', ggufType: 'f16', modelfile: false, verify: true })).toThrow(/already exists/);
    const finished: unknown[] = [];
    const off = engine.events.on('exports.finished', (r) => finished.push(r.id));
    const rec = svc.start({ adapterId: a.id, kind: 'merged', out: path.join(tmp, 'merged'), dtype: 'bf16', ggufType: 'f16', modelfile: false, verify: true });
    const done = await svc.wait(rec.id);
    off();
    expect(done.status).toBe('completed');
    expect((done.result as { verification: { passed: boolean } }).verification.passed).toBe(true);
    expect(finished).toEqual([rec.id]);
    expect(svc.list(a.id).map((r) => r.kind)).toEqual(['merged', 'peft']);
  });

  it('a job left running by a closed app is marked failed and its temp folder removed', () => {
    const repo = createExportsRepo(engine.db);
    const dest = path.join(tmp, 'crashed', 'model.gguf');
    fs.mkdirSync(path.join(dest, '..', '.model.gguf.partial-999-abcd'), { recursive: true });
    const row = repo.create({ adapterId: null, kind: 'gguf', path: dest, options: {} });
    const fresh = new (exportsService(engine).constructor as new (e: Engine) => ReturnType<typeof exportsService>)(engine);
    expect(fresh.get(row.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect(fs.readdirSync(path.dirname(dest))).toEqual([]);
  });

  it('deletes an adapter with its files', () => {
    const a = lib.resolve('beta');
    const r = lib.delete(a.id);
    expect(r).toEqual({ id: a.id, path: a.path, filesDeleted: true });
    expect(fs.existsSync(a.path)).toBe(false);
    expect(() => lib.get(a.id)).toThrow(/no adapter with id/);
  });
});
