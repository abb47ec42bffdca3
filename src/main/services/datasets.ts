/**
 * Datasets for the handlers and the CLI: import with progress events and cancel, inspect before
 * import, rows and previews rendered with a model's tokenizer and template, statistics, split.
 * One service per engine, so an import started through one shell can be cancelled from another.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { z } from 'zod';
import type {
  DatasetDetail,
  DatasetStats,
  DatasetSummary,
  DatasetVersionInfo,
  ImportArgs,
  ImportProgressEvent,
  ImportResult,
  InspectResult,
  PreviewResult,
  PreviewRow,
} from '../../shared/contract';
import type { Engine } from '../engine';
import { NotFoundError, UserError, errorMessage } from '../errors';
import { ImportCancelledError, importDataset, sweepAbandonedImports, type FileReport } from '../datasets/importer';
import { inspectSource, type InspectRequest } from '../datasets/inspect';
import { tokenPieces } from '../datasets/pieces';
import { TemplateRejectedError, measureExample, renderExample } from '../datasets/render';
import { evalIndices, splitSizes } from '../datasets/split';
import { histogram, spreadSample } from '../datasets/stats';
import { resolveTemplate, type ResolvedTemplate, type TemplateChoice } from '../datasets/templates';
import type { Example } from '../datasets/types';
import { loadTokenizer, type ModelTokenizer } from '../ml/tokenizer';
import { createDatasetsRepo, type DatasetsRepo, type VersionRecord } from '../storage/repos/datasets';
import { ModelsService } from './models';

type ImportArgsParsed = z.output<typeof ImportArgs>;

interface ActiveImport {
  controller: AbortController;
  versionId?: number;
}

export class DatasetsService {
  readonly repo: DatasetsRepo;
  private active = new Map<string, ActiveImport>();
  private tokenizers = new Map<string, { mtimeMs: number; tokenizer: ModelTokenizer }>();

  constructor(private readonly engine: Engine) {
    this.repo = createDatasetsRepo(engine.db);
    engine.onClose(() => {
      for (const a of this.active.values()) a.controller.abort();
    });
  }

  inspect(req: InspectRequest): Promise<InspectResult> {
    return inspectSource(req);
  }

  async import(args: ImportArgsParsed): Promise<ImportResult> {
    const importId = args.importId ?? crypto.randomUUID();
    if (this.active.has(importId)) throw new UserError(`an import with id "${importId}" is already running`, 409);
    const entry: ActiveImport = { controller: new AbortController() };
    this.active.set(importId, entry);
    const emit = (p: Omit<ImportProgressEvent, 'importId'>) => this.engine.events.emit('datasets.importProgress', { importId, ...p });
    let last: Omit<ImportProgressEvent, 'importId' | 'phase'> = {
      rows: 0,
      skipped: 0,
      bytes: 0,
      totalBytes: 0,
      rowsPerSecond: 0,
      bytesPerSecond: 0,
      etaSeconds: null,
    };
    try {
      sweepAbandonedImports(this.repo, new Set([...this.active.values()].flatMap((a) => (a.versionId ? [a.versionId] : []))));
      const outcome = await importDataset(
        this.repo,
        {
          path: args.path,
          name: args.name,
          container: args.container,
          shape: args.shape,
          mapping: args.mapping,
          textUnit: args.textUnit,
          jsonField: args.jsonField,
          onError: args.onError,
          evalFraction: args.evalFraction,
          seed: args.seed,
          onDuplicate: args.onDuplicate,
          datasetId: args.datasetId,
        },
        {
          signal: entry.controller.signal,
          onVersion: (id) => (entry.versionId = id),
          onProgress: (p) => {
            const { phase, ...rest } = p;
            last = rest;
            if (phase !== 'done') emit(p);
          },
        },
      );
      emit({ ...last, phase: 'done', etaSeconds: 0, datasetId: outcome.datasetId });
      if (!outcome.reused) this.engine.events.emit('datasets.changed', { id: outcome.datasetId });
      const { datasetId, ...rest } = outcome;
      return { id: datasetId, ...rest };
    } catch (err) {
      if (err instanceof ImportCancelledError) emit({ ...last, phase: 'cancelled', etaSeconds: null });
      else emit({ ...last, phase: 'failed', etaSeconds: null, error: errorMessage(err) });
      throw err;
    } finally {
      this.active.delete(importId);
    }
  }

  cancelImport(importId: string): { cancelled: boolean } {
    const a = this.active.get(importId);
    if (!a) return { cancelled: false };
    a.controller.abort();
    return { cancelled: true };
  }

  list(): DatasetSummary[] {
    return this.repo.list().map((d) => ({
      id: d.id,
      name: d.name,
      format: d.format,
      shape: d.shape,
      mapping: d.mapping,
      sourcePath: d.sourcePath,
      createdAt: d.createdAt,
      latest: this.versionInfo(d.latest),
    }));
  }

  get(id: number): DatasetDetail {
    const d = this.repo.get(id);
    if (!d) throw new NotFoundError(`no dataset with id ${id} (see \`lora-studio datasets list\`)`);
    const versions = this.repo.versions(id).map((v) => this.versionInfo(v));
    return {
      id: d.id,
      name: d.name,
      format: d.format,
      shape: d.shape,
      mapping: d.mapping,
      sourcePath: d.sourcePath,
      createdAt: d.createdAt,
      latest: versions[versions.length - 1],
      versions,
    };
  }

  rename(id: number, name: string): DatasetSummary {
    this.get(id);
    this.repo.rename(id, name);
    this.engine.events.emit('datasets.changed', { id });
    return this.list().find((d) => d.id === id)!;
  }

  delete(id: number): { deleted: boolean } {
    const deleted = this.repo.deleteDataset(id);
    if (deleted) this.engine.events.emit('datasets.changed', { id });
    return { deleted };
  }

  /** A dataset's version: the given number, or the latest. */
  version(id: number, version?: number): VersionRecord {
    const v = this.repo.version(id, version);
    if (v) return v;
    if (!this.repo.get(id)) throw new NotFoundError(`no dataset with id ${id} (see \`lora-studio datasets list\`)`);
    throw new NotFoundError(`dataset ${id} has no version ${version}`);
  }

  split(id: number, version: number | undefined, evalFraction: number, seed: number): { train: number; eval: number } {
    const v = this.version(id, version);
    this.repo.setSplit(v.id, {
      previousEval: evalIndices(v.rowCount, v.evalFraction, v.splitSeed),
      eval: evalIndices(v.rowCount, evalFraction, seed),
      seed,
      fraction: evalFraction,
    });
    this.engine.events.emit('datasets.changed', { id });
    return splitSizes(v.rowCount, evalFraction);
  }

  /** The tokenizer of a model (id, registered path, or any folder with tokenizer.json), cached while unchanged. */
  tokenizer(model: number | string): ModelTokenizer {
    const { dir } = new ModelsService(this.engine).resolve(model);
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(`${dir}/tokenizer.json`).mtimeMs;
    } catch {
      throw new UserError(`${dir}: no tokenizer.json (a model folder or a folder with the model's tokenizer is needed)`);
    }
    const hit = this.tokenizers.get(dir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.tokenizer;
    const tokenizer = loadTokenizer(dir);
    this.tokenizers.clear(); // keep one: tokenizers of big vocabularies take tens of MB
    this.tokenizers.set(dir, { mtimeMs, tokenizer });
    return tokenizer;
  }

  preview(args: {
    id: number;
    version?: number;
    offset: number;
    limit: number;
    split?: 'train' | 'eval';
    model?: number | string;
    template: TemplateChoice;
    maxLength?: number;
  }): PreviewResult {
    const v = this.version(args.id, args.version);
    const rows = this.repo.rows(v.id, { offset: args.offset, limit: args.limit, split: args.split });
    const total = args.split ? splitSizes(v.rowCount, v.evalFraction)[args.split] : v.rowCount;
    let tokenizer: ModelTokenizer | undefined;
    let template: ResolvedTemplate | undefined;
    if (args.model !== undefined) {
      tokenizer = this.tokenizer(args.model);
      template = resolveTemplate(tokenizer, args.template);
    }
    const out: PreviewRow[] = rows.map((r) => {
      const example = JSON.parse(r.dataJson) as Example;
      const row: PreviewRow = { idx: r.idx, line: r.line, split: r.split, example };
      if (tokenizer && template) {
        try {
          const rendered = renderExample(example, { tokenizer, template, maxLength: args.maxLength });
          row.rendered = {
            text: rendered.text,
            pieces: tokenPieces(tokenizer, rendered.ids, rendered.labelsMask),
            tokens: rendered.length,
            trainedTokens: rendered.labelsMask.reduce((a, b) => a + b, 0),
            truncated: rendered.truncated,
          };
        } catch (err) {
          if (!(err instanceof TemplateRejectedError)) throw err;
          row.renderError = err.message;
        }
      }
      return row;
    });
    return {
      datasetId: args.id,
      version: v.version,
      total,
      offset: args.offset,
      rows: out,
      template: template && { name: template.name, fallbackReason: template.fallbackReason, source: template.source },
    };
  }

  stats(args: {
    id: number;
    version?: number;
    model?: number | string;
    template: TemplateChoice;
    maxLength: number;
    sampleRows: number;
    bins: number;
  }): DatasetStats {
    const v = this.version(args.id, args.version);
    let tokenizer: ModelTokenizer | undefined;
    let template: ResolvedTemplate | undefined;
    if (args.model !== undefined) {
      tokenizer = this.tokenizer(args.model);
      template = resolveTemplate(tokenizer, args.template);
    }
    const inSample = spreadSample(v.rowCount, args.sampleRows);
    const lengths: number[] = [];
    let empty = 0;
    let templateErrors = 0;
    const templateErrorSamples: DatasetStats['templateErrorSamples'] = [];
    for (const r of this.repo.iterateRows(v.id)) {
      const example = JSON.parse(r.dataJson) as Example;
      if (isEmpty(example)) empty++;
      if (!inSample(r.idx)) continue;
      if (!tokenizer || !template) {
        lengths.push(charLength(example));
        continue;
      }
      try {
        lengths.push(measureExample(example, { tokenizer, template }));
      } catch (err) {
        if (!(err instanceof TemplateRejectedError)) throw err;
        templateErrors++;
        if (templateErrorSamples.length < 10) templateErrorSamples.push({ idx: r.idx, line: r.line, reason: err.message });
      }
    }
    const overLong = lengths.filter((n) => n > args.maxLength).length;
    return {
      datasetId: args.id,
      version: v.version,
      rows: v.rowCount,
      ...splitSizes(v.rowCount, v.evalFraction),
      measured: lengths.length + templateErrors,
      empty,
      duplicates: this.repo.duplicateRowCount(v.id),
      maxLength: args.maxLength,
      overLong,
      truncatedShare: lengths.length ? overLong / lengths.length : 0,
      histogram: { unit: tokenizer ? 'tokens' : 'chars', ...histogram(lengths, args.bins) },
      templateErrors,
      templateErrorSamples,
      template: template && { name: template.name, fallbackReason: template.fallbackReason },
    };
  }

  private versionInfo(v: VersionRecord): DatasetVersionInfo {
    const info = v.importInfo as { files?: FileReport[] };
    return {
      id: v.id,
      version: v.version,
      rows: v.rowCount,
      ...splitSizes(v.rowCount, v.evalFraction),
      skippedCount: v.skippedCount,
      skipped: v.skipped,
      contentHash: v.contentHash,
      sourcePath: v.sourcePath,
      sizeBytes: v.sizeBytes,
      splitSeed: v.splitSeed,
      evalFraction: v.evalFraction,
      files: info.files ?? [],
      createdAt: v.createdAt,
    };
  }
}

/** A row with a blank user turn (or a blank text). */
function isEmpty(example: Example): boolean {
  if ('text' in example) return example.text.trim() === '';
  return example.messages.some((m) => m.role === 'user' && m.content.trim() === '');
}

function charLength(example: Example): number {
  if ('text' in example) return example.text.length;
  return example.messages.reduce((n, m) => n + m.content.length, 0);
}

const services = new WeakMap<Engine, DatasetsService>();

export function datasetsService(engine: Engine): DatasetsService {
  let s = services.get(engine);
  if (!s) {
    s = new DatasetsService(engine);
    services.set(engine, s);
  }
  return s;
}
