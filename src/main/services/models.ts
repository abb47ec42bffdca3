/**
 * The model library: folders the user registered, snapshots found in the Hugging Face cache, and
 * the bundled starter model (registered on first start). Registration inspects the folder first
 * (config, tokenizer, every tensor's name and shape) so a bad folder never becomes a DB row.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowseEntry, CachedModelInfo, ModelCard, ModelSummary } from '../../shared/contract';
import type { Engine } from '../engine';
import { NotFoundError, UserError, errorMessage } from '../errors';
import { inspectModelFolder, type ModelCard as FolderCard } from '../ml/loader';
import { appRoot } from '../storage/paths';
import { createModelsRepo, type ModelRow, type ModelSource } from '../storage/repos/models';
import { hfHubCacheDir, scanHfCache } from './hf-cache';

export const STARTER_MODEL_DIR = 'resources/starter-model';

const toSummary = (m: ModelRow): ModelSummary => ({
  id: m.id,
  name: m.name,
  path: m.path,
  source: m.source,
  modelType: m.modelType,
  params: m.params,
  sizeBytes: m.sizeBytes,
  dtype: m.dtype,
  addedAt: m.addedAt,
});

function inspect(dir: string): FolderCard {
  if (!fs.existsSync(dir)) throw new UserError(`${dir}: no such folder`);
  if (!fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: not a folder (pick the folder that holds config.json)`);
  try {
    return inspectModelFolder(dir);
  } catch (err) {
    throw new UserError(errorMessage(err));
  }
}

function dtypeOf(card: FolderCard): string | null {
  const stored = Object.entries(card.storedDtypes).sort((a, b) => b[1] - a[1]);
  return stored[0]?.[0] ?? card.torchDtype;
}

export class ModelsService {
  readonly repo;

  constructor(private engine: Engine) {
    this.repo = createModelsRepo(engine.db);
  }

  list(): ModelSummary[] {
    return this.repo.list().map(toSummary);
  }

  add(dirIn: string, name?: string, sourceIn?: ModelSource): ModelSummary {
    const dir = path.resolve(dirIn);
    const source = sourceIn ?? (isInside(dir, hfHubCacheDir()) ? 'hf-cache' : 'user');
    const existing = this.repo.getByPath(dir);
    if (existing) return toSummary(existing);
    const card = inspect(dir);
    const row = this.repo.add({
      name: name ?? defaultName(dir),
      path: dir,
      source,
      modelType: card.modelType,
      architecture: card.architecture,
      params: card.numParams,
      sizeBytes: card.sizeOnDiskBytes,
      dtype: dtypeOf(card),
      config: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
    });
    this.engine.events.emit('models.changed', { id: row.id });
    return toSummary(row);
  }

  /** A model by id, by registered path, or an unregistered folder path (inspected on the fly). */
  resolve(ref: number | string): { row?: ModelRow; dir: string } {
    if (typeof ref === 'number' || /^\d+$/.test(ref)) {
      const row = this.repo.get(Number(ref));
      if (!row) throw new NotFoundError(`no model with id ${ref} (see \`lora-studio models list\`)`);
      return { row, dir: row.path };
    }
    const dir = path.resolve(ref);
    return { row: this.repo.getByPath(dir), dir };
  }

  show(ref: number | string): ModelCard {
    const { row, dir } = this.resolve(ref);
    const card = inspect(dir);
    const d = card.dims;
    return {
      id: row?.id ?? 0,
      name: row?.name ?? defaultName(dir),
      path: dir,
      source: row?.source ?? 'user',
      modelType: card.modelType,
      params: card.numParams,
      sizeBytes: card.sizeOnDiskBytes,
      dtype: dtypeOf(card),
      addedAt: row?.addedAt ?? '',
      architecture: card.architecture,
      layers: d.numLayers,
      hiddenSize: d.hiddenSize,
      intermediateSize: d.intermediateSize,
      heads: d.numHeads,
      kvHeads: d.numKvHeads,
      headDim: d.headDim,
      vocabSize: d.vocabSize,
      contextLength: d.maxPositions,
      tiedEmbeddings: d.tiedEmbeddings,
      hasChatTemplate: card.hasChatTemplate,
      modules: card.loraTargets.map((t) => ({ name: t.peftName, module: t.module, inFeatures: t.inFeatures, outFeatures: t.outFeatures })),
      files: fs
        .readdirSync(dir)
        .filter((f) => !f.startsWith('.'))
        .map((f) => ({ name: f, sizeBytes: fs.statSync(path.join(dir, f)).size }))
        .filter((f) => f.sizeBytes > 0),
    };
  }

  remove(id: number): boolean {
    const removed = this.repo.remove(id);
    if (removed) this.engine.events.emit('models.changed', { id });
    return removed;
  }

  scan(): CachedModelInfo[] {
    return scanHfCache().map((m) => ({ ...m, registeredId: this.repo.getByPath(path.resolve(m.path))?.id ?? null }));
  }

  /** Register the bundled starter model once (first start, or after the user removed it: not again). */
  ensureStarterModel(): void {
    if (this.engine.settings.get('starterModelRegistered', false)) return;
    const dir = path.join(appRoot(), STARTER_MODEL_DIR);
    if (!fs.existsSync(path.join(dir, 'config.json'))) return;
    try {
      this.add(dir, 'LoRA Studio starter (tiny Llama)', 'starter');
      this.engine.settings.set('starterModelRegistered', true);
    } catch (err) {
      console.error(`starter model not registered: ${errorMessage(err)}`);
    }
  }
}

function defaultName(dir: string): string {
  // HF cache snapshot: models--ORG--NAME/snapshots/<commit> → ORG/NAME
  const m = /models--([^/\\]+)[/\\]snapshots[/\\][^/\\]+[/\\]?$/.exec(dir);
  if (m) return m[1].split('--').join('/');
  return path.basename(dir);
}

/** Folder listing for the web shell's path picker: the user's home and below only. */
export function browseFolders(dirIn?: string): { path: string; parent: string | null; entries: BrowseEntry[] } {
  const home = os.homedir();
  let dir = path.resolve(dirIn && dirIn.trim() ? dirIn.replace(/^~(?=$|\/)/, home) : home);
  // A file (a dataset path typed in the field) opens the folder that holds it.
  try {
    if (fs.statSync(dir).isFile()) dir = path.dirname(dir);
  } catch {
    // missing: readdir below says so
  }
  const rel = path.relative(home, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UserError(`${dir}: browsing is limited to your home folder (${home}); type the full path instead`);
  let dirents: fs.Dirent[];
  try {
    dirents = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new UserError(`${dir}: cannot list (${errorMessage(err)})`);
  }
  const entries: BrowseEntry[] = [];
  for (const e of dirents) {
    if (e.name.startsWith('.') && e.name !== '.cache') continue;
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      try {
        isDir = fs.statSync(p).isDirectory();
      } catch {
        continue;
      }
    }
    entries.push({ name: e.name, path: p, isDir, isModel: isDir && fs.existsSync(path.join(p, 'config.json')) });
  }
  entries.sort((a, b) => Number(b.isDir) - Number(a.isDir) || a.name.localeCompare(b.name));
  return { path: dir, parent: dir === home ? null : path.dirname(dir), entries };
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
