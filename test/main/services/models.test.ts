import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../../src/main/engine';
import { ModelsService, browseFolders } from '../../../src/main/services/models';
import { scanHfCache } from '../../../src/main/services/hf-cache';

const fixtures = path.resolve(__dirname, '../../../../shared/fixtures/models');
let dir: string;
let engine: Engine;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-models-'));
  engine = Engine.open({ dataDir: path.join(dir, 'data'), shell: 'cli' });
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('model library', () => {
  it('registers a real checkpoint with its card, once per path', () => {
    const models = new ModelsService(engine);
    const m = models.add(path.join(fixtures, 'tiny-random-llama'));
    expect(m).toMatchObject({ name: 'tiny-random-llama', modelType: 'llama', source: 'user', dtype: 'F32' });
    expect(m.params).toBe(1032272);
    expect(models.add(path.join(fixtures, 'tiny-random-llama')).id).toBe(m.id);
    expect(models.list()).toHaveLength(1);

    const card = models.show(m.id);
    expect(card).toMatchObject({ layers: 2, hiddenSize: 16, heads: 4, kvHeads: 4, vocabSize: 32000, hasChatTemplate: false });
    expect(card.modules.map((x) => x.name)).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(card.modules.find((x) => x.name === 'down_proj')).toEqual({ name: 'down_proj', module: 'mlp.down_proj', inFeatures: 64, outFeatures: 16 });
  });

  it('shows GPT-2 modules with their Conv1D shapes', () => {
    const card = new ModelsService(engine).show(path.join(fixtures, 'tiny-gpt2'));
    expect(card.modelType).toBe('gpt2');
    expect(card.tiedEmbeddings).toBe(true);
    expect(card.modules.map((x) => x.name)).toEqual(expect.arrayContaining(['c_attn', 'c_proj', 'c_fc']));
    expect(card.modules.find((x) => x.name === 'c_attn')).toMatchObject({ inFeatures: 2, outFeatures: 6 });
  });

  it('refuses a folder that is not a model, and writes no row', () => {
    const models = new ModelsService(engine);
    const notModel = path.join(dir, 'photos');
    fs.mkdirSync(notModel);
    fs.writeFileSync(path.join(notModel, 'cat.jpg'), 'x');
    expect(() => models.add(notModel)).toThrow(/config\.json/);
    expect(() => models.add(path.join(dir, 'missing'))).toThrow(/no such folder/);
    expect(models.list()).toEqual([]);
  });

  it('finds models in a Hugging Face cache whose snapshot files are symlinks into blobs/', () => {
    const hub = path.join(dir, 'hub');
    const repo = path.join(hub, 'models--acme--tiny-llama');
    const snap = path.join(repo, 'snapshots', 'abc123');
    fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(repo, 'refs'));
    fs.writeFileSync(path.join(repo, 'refs', 'main'), 'abc123');
    for (const f of fs.readdirSync(path.join(fixtures, 'tiny-random-llama'))) {
      const blob = path.join(repo, 'blobs', `blob-${f}`);
      fs.copyFileSync(path.join(fixtures, 'tiny-random-llama', f), blob);
      fs.symlinkSync(blob, path.join(snap, f));
    }
    fs.mkdirSync(path.join(hub, 'models--acme--no-weights', 'snapshots', 'x'), { recursive: true });
    fs.writeFileSync(path.join(hub, 'models--acme--no-weights', 'snapshots', 'x', 'config.json'), '{}');

    const found = scanHfCache(hub);
    expect(found).toEqual([{ repoId: 'acme/tiny-llama', snapshot: 'abc123', path: snap }]);
    const m = new ModelsService(engine).add(snap, undefined, 'hf-cache');
    expect(m.name).toBe('acme/tiny-llama');
    expect(m.sizeBytes).toBeGreaterThan(5_000_000); // symlinks followed
  });

  it('registers the bundled starter model on first start only', () => {
    const models = new ModelsService(engine);
    models.ensureStarterModel();
    const starter = models.list().filter((m) => m.source === 'starter');
    const shipped = fs.existsSync(path.resolve(__dirname, '../../../resources/starter-model/config.json'));
    expect(starter).toHaveLength(shipped ? 1 : 0);
    if (!shipped) return;
    models.remove(starter[0].id);
    models.ensureStarterModel(); // the user removed it: it stays removed
    expect(models.list().filter((m) => m.source === 'starter')).toHaveLength(0);
  });

  it('browses folders only inside the home folder', () => {
    const home = browseFolders();
    expect(home.path).toBe(os.homedir());
    expect(home.parent).toBeNull();
    expect(() => browseFolders('/etc')).toThrow(/limited to your home folder/);
  });

  it('opens the folder of a file path', () => {
    const dir = fs.mkdtempSync(path.join(os.homedir(), '.lora-browse-test-'));
    try {
      fs.writeFileSync(path.join(dir, 'train.jsonl'), '{}\n');
      const listing = browseFolders(path.join(dir, 'train.jsonl'));
      expect(listing.path).toBe(dir);
      expect(listing.entries.map((e) => [e.name, e.isDir])).toEqual([['train.jsonl', false]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
