/**
 * The adapter library service: every adapter is a PEFT folder under the data dir plus a row in
 * table adapters (base model, targets, layers, rank, alpha, size, sha256, lineage, template, tags,
 * notes). Import checks a foreign adapter against the chosen base model and stores a canonical
 * PEFT copy; resize and combine write new adapters whose parent is recorded.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AdapterCheckReport, AdapterDetail, AdapterSpectrumInfo, AdapterSummary, CombineReport, ResizeReport } from '../../shared/contract';
import type { Engine } from '../engine';
import { NotFoundError, UserError, errorMessage } from '../errors';
import { BUILTIN_TEMPLATES, builtinTemplate, type BuiltinTemplate } from '../datasets/templates';
import { readConfigJson } from '../ml/config';
import { ModelsService } from '../services/models';
import { sha256File } from '../storage/files';
import { createAdapterLibraryRepo, type LibraryAdapter } from '../storage/repos/adapter-library';
import type { NewAdapter } from '../storage/repos/adapters';
import { combineAdapters } from './combine';
import { checkPeftAdapter, modelShapes, type ModelShapes } from './peft-check';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterFilesError, readAdapterWeights, writeAdapterFiles, type AdapterWeights, type LoraModuleWeights } from './peft-files';
import { toPlain, type PyJsonObject } from './pyjson';
import { AdapterOpError, resizeAdapter } from './resize';
import { adapterSpectrum } from './spectrum';

/** Small files an adapter folder may carry besides the weights (copied on import). */
const SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json', 'chat_template.jinja', 'README.md'];

export function toSummary(a: LibraryAdapter): AdapterSummary {
  return {
    id: a.id,
    name: a.name,
    source: a.source,
    path: a.path,
    baseModelId: a.baseModelId,
    baseModelName: a.baseModelName,
    runId: a.runId,
    checkpointId: a.checkpointId,
    parentAdapterId: a.parentAdapterId,
    datasetVersionId: a.datasetVersionId,
    rank: a.rank,
    alpha: a.alpha,
    targets: a.targets,
    layers: a.layers,
    sizeBytes: a.sizeBytes,
    sha256: a.sha256,
    tags: a.tags,
    notes: a.notes,
    hasTemplate: a.template !== null && a.template !== 'model',
    createdAt: a.createdAt,
  };
}

function folderFiles(dir: string): { name: string; sizeBytes: number }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .map((name) => ({ name, sizeBytes: fs.statSync(path.join(dir, name)).size }))
    .filter((f) => fs.statSync(path.join(dir, f.name)).isFile());
}

function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48) || 'adapter'
  );
}

/** The chat template of an adapter folder's own tokenizer files (imported adapters carry one). */
function folderTemplate(dir: string): string | null {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const cfg = path.join(dir, 'tokenizer_config.json');
  if (!fs.existsSync(cfg)) return null;
  try {
    const t = (JSON.parse(fs.readFileSync(cfg, 'utf8')) as { chat_template?: unknown }).chat_template;
    return typeof t === 'string' ? t : null;
  } catch {
    return null;
  }
}

/**
 * The Jinja text of the template an adapter was trained with: a built-in's name resolves to its
 * source; 'model' (or nothing recorded) means the base model's own, returned as null.
 */
export function trainingTemplate(a: Pick<LibraryAdapter, 'template' | 'path'>): string | null {
  const t = a.template;
  if (t && (BUILTIN_TEMPLATES as readonly string[]).includes(t)) return builtinTemplate(t as BuiltinTemplate).source;
  if (t && t !== 'model') return t;
  return folderTemplate(a.path);
}

export class AdapterLibrary {
  readonly repo;
  readonly models: ModelsService;

  constructor(private readonly engine: Engine) {
    this.repo = createAdapterLibraryRepo(engine.db);
    this.models = new ModelsService(engine);
  }

  private row(id: number): LibraryAdapter {
    const a = this.repo.get(id);
    if (!a) throw new NotFoundError(`no adapter with id ${id} (see \`lora-studio adapters list\`)`);
    return a;
  }

  /** An adapter by id or (unique) name. */
  resolve(ref: number | string): LibraryAdapter {
    if (typeof ref === 'number' || /^\d+$/.test(ref)) return this.row(Number(ref));
    const hits = this.repo.list().filter((a) => a.name === ref);
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) throw new UserError(`${hits.length} adapters are named "${ref}"; use the id (${hits.map((h) => h.id).join(', ')})`);
    throw new NotFoundError(`no adapter with id or name "${ref}" (see \`lora-studio adapters list\`)`);
  }

  list(filter: { tag?: string; baseModelId?: number } = {}): AdapterSummary[] {
    return this.repo
      .list()
      .filter((a) => (filter.tag === undefined || a.tags.includes(filter.tag)) && (filter.baseModelId === undefined || a.baseModelId === filter.baseModelId))
      .map(toSummary);
  }

  /** The base model folder of an adapter, or a UserError saying how to make it known. */
  baseDir(a: LibraryAdapter): string {
    if (a.baseModelId !== null) {
      const m = this.models.repo.get(a.baseModelId);
      if (m) return m.path;
    }
    if (a.baseModelName && path.isAbsolute(a.baseModelName) && fs.existsSync(path.join(a.baseModelName, 'config.json'))) return a.baseModelName;
    throw new UserError(`adapter ${a.id} (${a.name}): its base model ${a.baseModelName ? `"${a.baseModelName}" ` : ''}is not in the model library; add the model folder with \`lora-studio models add PATH\` and import the adapter against it`);
  }

  baseModelLabel(a: LibraryAdapter): string {
    if (a.baseModelId !== null) {
      const m = this.models.repo.get(a.baseModelId);
      if (m) return m.name;
    }
    return a.baseModelName ?? 'unknown base model';
  }

  get(id: number): AdapterDetail {
    const a = this.row(id);
    let modules = 0;
    let rslora = false;
    try {
      const w = readAdapterWeights(a.path);
      modules = w.modules.length;
      rslora = w.config.settings.rslora;
    } catch {
      // files missing or unreadable: the detail still shows the row
    }
    let baseModelPath: string | null = null;
    try {
      baseModelPath = this.baseDir(a);
    } catch {
      baseModelPath = null;
    }
    const parent = a.parentAdapterId !== null ? this.repo.get(a.parentAdapterId) : undefined;
    return {
      ...toSummary(a),
      config: a.config,
      files: folderFiles(a.path),
      modules,
      rslora,
      template: trainingTemplate(a),
      baseModelPath,
      parentName: parent?.name ?? null,
      children: this.repo
        .children(a.id)
        .map((c) => this.repo.get(c))
        .filter((c): c is LibraryAdapter => !!c)
        .map((c) => ({ id: c.id, name: c.name, source: c.source })),
    };
  }

  private shapesFor(modelRef: number | string): { shapes: ModelShapes; modelId: number | null; modelName: string; dir: string } {
    const { row, dir } = this.models.resolve(modelRef);
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new UserError(`${dir}: not a model folder (no config.json)`);
    const name = row?.name ?? path.basename(dir);
    try {
      return { shapes: modelShapes(readConfigJson(dir), name), modelId: row?.id ?? null, modelName: name, dir };
    } catch (err) {
      throw new UserError(errorMessage(err));
    }
  }

  check(dir: string, modelRef: number | string): AdapterCheckReport {
    const { shapes } = this.shapesFor(modelRef);
    let check;
    try {
      check = checkPeftAdapter(path.resolve(dir), shapes);
    } catch (err) {
      if (err instanceof AdapterFilesError) throw new UserError(err.message);
      throw err;
    }
    const s = check.config.settings;
    return {
      ok: check.problems.length === 0,
      problems: check.problems,
      modelType: shapes.modelType,
      modules: check.modules.length,
      targets: check.targets,
      layers: check.layers,
      rank: s.r,
      alpha: s.alpha,
      baseModelInConfig: s.baseModel,
    };
  }

  /** Checks `dir` against the model and stores a canonical PEFT copy in the library. */
  import(dirIn: string, modelRef: number | string, name?: string): AdapterSummary {
    const dir = path.resolve(dirIn);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder`);
    const { shapes, modelId, modelName, dir: modelDir } = this.shapesFor(modelRef);
    let check;
    let weights: AdapterWeights;
    try {
      check = checkPeftAdapter(dir, shapes);
      if (check.problems.length) throw new UserError(`${dir} cannot be used with ${modelName}: ${check.problems.join('; ')}`);
      weights = readAdapterWeights(dir, check.config);
    } catch (err) {
      if (err instanceof AdapterFilesError) throw new UserError(err.message);
      throw err;
    }
    const label = name ?? path.basename(dir);
    const template = folderTemplate(dir);
    const created = this.store(label, weights.config.tree, weights.modules, storedDtype(weights.dtype), (target) => {
      for (const f of SIDE_FILES) if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(target, f));
    }, {
      source: 'import',
      baseModelId: modelId,
      baseModelName: modelId !== null ? modelName : modelDir,
      template,
      layers: check.layers,
      targets: check.targets,
    });
    return created;
  }

  /** Writes a new adapter folder and its row; the folder is removed if the row cannot be made. */
  private store(
    name: string,
    tree: PyJsonObject,
    modules: LoraModuleWeights[],
    dtype: 'F32' | 'F16' | 'BF16',
    extraFiles: ((dir: string) => void) | null,
    meta: Pick<NewAdapter, 'source' | 'baseModelId' | 'baseModelName' | 'template' | 'targets' | 'layers'> & Partial<NewAdapter>,
  ): AdapterSummary {
    const root = this.engine.paths.adapters;
    fs.mkdirSync(root, { recursive: true });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    let dir = path.join(root, `${stamp}-${slug(name)}`);
    for (let i = 2; fs.existsSync(dir); i++) dir = path.join(root, `${stamp}-${slug(name)}-${i}`);
    const tmp = `${dir}.partial`;
    fs.mkdirSync(tmp);
    try {
      writeAdapterFiles(tmp, tree, modules, dtype);
      extraFiles?.(tmp);
      fs.renameSync(tmp, dir);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    try {
      const plain = toPlain(tree) as Record<string, unknown>;
      const row = this.repo.create({
        name,
        path: dir,
        runId: null,
        checkpointId: null,
        parentAdapterId: null,
        datasetVersionId: null,
        rank: Number(plain.r),
        alpha: Number(plain.lora_alpha),
        config: plain,
        sizeBytes: folderFiles(dir).reduce((n, f) => n + f.sizeBytes, 0),
        sha256: sha256File(path.join(dir, ADAPTER_WEIGHTS)),
        ...meta,
      });
      this.engine.events.emit('adapters.changed', { id: row.id, action: 'added' });
      return toSummary(this.row(row.id));
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  rename(id: number, name: string): AdapterSummary {
    this.row(id);
    this.repo.rename(id, name.trim());
    this.engine.events.emit('adapters.changed', { id, action: 'updated' });
    return toSummary(this.row(id));
  }

  setTags(id: number, tags: string[]): AdapterSummary {
    this.row(id);
    this.repo.setTags(id, [...new Set(tags.map((t) => t.trim()).filter(Boolean))]);
    this.engine.events.emit('adapters.changed', { id, action: 'updated' });
    return toSummary(this.row(id));
  }

  setNotes(id: number, notes: string): AdapterSummary {
    this.row(id);
    this.repo.setNotes(id, notes);
    this.engine.events.emit('adapters.changed', { id, action: 'updated' });
    return toSummary(this.row(id));
  }

  /**
   * Deletes the row and the adapter's folder when the folder lies inside the data dir (a
   * library copy or a run's output); a folder elsewhere is the user's and is left alone.
   */
  delete(id: number): { id: number; path: string; filesDeleted: boolean } {
    const a = this.row(id);
    const inside = path.resolve(a.path).startsWith(path.resolve(this.engine.paths.root) + path.sep);
    this.repo.remove(id);
    let filesDeleted = false;
    if (inside && fs.existsSync(a.path)) {
      fs.rmSync(a.path, { recursive: true, force: true });
      filesDeleted = true;
    }
    this.engine.events.emit('adapters.changed', { id, action: 'deleted' });
    return { id, path: a.path, filesDeleted };
  }

  /** Opens the adapter's folder in the system file manager. */
  reveal(id: number, open: (p: string) => boolean = openInFileManager): { path: string; opened: boolean } {
    const a = this.row(id);
    if (!fs.existsSync(a.path)) throw new UserError(`${a.path}: the adapter's folder no longer exists`);
    return { path: a.path, opened: open(a.path) };
  }

  weights(a: LibraryAdapter): AdapterWeights {
    try {
      return readAdapterWeights(a.path);
    } catch (err) {
      throw new UserError(`adapter ${a.id} (${a.name}): ${errorMessage(err)}`);
    }
  }

  svd(id: number): AdapterSpectrumInfo {
    const a = this.row(id);
    const w = this.weights(a);
    return { adapterId: id, ...adapterSpectrum(w.modules, w.config.settings.rslora) };
  }

  resize(id: number, rank: number, name?: string): ResizeReport {
    const a = this.row(id);
    const w = this.weights(a);
    let res;
    try {
      res = resizeAdapter(w, rank);
    } catch (err) {
      if (err instanceof AdapterOpError) throw new UserError(err.message);
      throw err;
    }
    const adapter = this.store(name ?? `${a.name} r${rank}`, res.tree, res.modules, storedDtype(w.dtype), (dir) => copyTemplateFiles(a.path, dir), {
      source: 'resize',
      baseModelId: a.baseModelId,
      baseModelName: a.baseModelName,
      template: a.template,
      targets: a.targets,
      layers: a.layers,
      parentAdapterId: a.id,
      datasetVersionId: a.datasetVersionId,
    });
    return { adapter, modules: res.report, meanEnergyKept: res.meanEnergyKept, minEnergyKept: res.minEnergyKept };
  }

  combine(items: { id: number; weight: number }[], rank?: number, name?: string): CombineReport {
    const rows = items.map((i) => this.row(i.id));
    const first = rows[0];
    for (const r of rows.slice(1)) {
      const same = (r.baseModelId !== null && r.baseModelId === first.baseModelId) || (r.baseModelId === null && first.baseModelId === null && r.baseModelName === first.baseModelName);
      if (!same) throw new UserError(`adapters ${first.id} (${this.baseModelLabel(first)}) and ${r.id} (${this.baseModelLabel(r)}) are for different base models; only adapters of the same base can be combined`);
    }
    let shapes: ModelShapes | null = null;
    try {
      shapes = modelShapes(readConfigJson(this.baseDir(first)), this.baseModelLabel(first));
    } catch {
      shapes = null; // base folder unknown: the combined config then lists full module paths
    }
    let res;
    try {
      res = combineAdapters(
        rows.map((r, i) => ({ adapter: this.weights(r), weight: items[i].weight })),
        { rank, baseModel: String((first.config as { base_model_name_or_path?: unknown }).base_model_name_or_path ?? first.baseModelName ?? ''), modelModules: shapes ? [...shapes.linear.keys()] : undefined, numLayers: shapes?.numLayers },
      );
    } catch (err) {
      if (err instanceof AdapterOpError) throw new UserError(err.message);
      throw err;
    }
    const plain = toPlain(res.tree) as { target_modules: string[]; layers_to_transform: number[] | null };
    const label = name ?? rows.map((r, i) => `${r.name}×${items[i].weight}`).join(' + ');
    const templates = new Set(rows.map((r) => r.template));
    const adapter = this.store(label, res.tree, res.modules, 'F32', (dir) => copyTemplateFiles(first.path, dir), {
      source: 'combine',
      baseModelId: first.baseModelId,
      baseModelName: first.baseModelName,
      template: templates.size === 1 ? first.template : null,
      targets: plain.target_modules,
      layers: plain.layers_to_transform,
      parentAdapterId: first.id,
    });
    return { adapter, modules: res.report };
  }
}

function storedDtype(d: string): 'F32' | 'F16' | 'BF16' {
  return d === 'F16' || d === 'BF16' ? d : 'F32';
}

/** A derived adapter keeps its parent's tokenizer side files (and so its chat template). */
function copyTemplateFiles(from: string, to: string): void {
  for (const f of SIDE_FILES) {
    if (f === 'README.md' || f === ADAPTER_CONFIG) continue;
    const src = path.join(from, f);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(to, f));
  }
}

/** Asks the OS file manager to show `p`; false when no opener could be started. */
export function openInFileManager(p: string): boolean {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [p]] : process.platform === 'win32' ? ['explorer', [p]] : ['xdg-open', [p]];
  try {
    const child = spawn(cmd, args as string[], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return child.pid !== undefined;
  } catch {
    return false;
  }
}
