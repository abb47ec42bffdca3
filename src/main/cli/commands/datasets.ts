/** `lora-studio datasets ...`: import, list, show (as the model sees it), stats, split, delete. */
import type { Command } from '../command';
import { intOption, numberOption, parse, subcommand } from '../command';
import { CliError, type CliContext } from '../context';
import { formatBytes, table } from '../format';
import { ImportArgs, DATASET_CONTAINERS, DATASET_SHAPES, DATASET_TEMPLATES, type DatasetExample, type PreviewRow } from '../../../shared/contract';
import { datasetsService } from '../../services/datasets';

const SUBCOMMANDS = ['import', 'inspect', 'list', 'show', 'stats', 'split', 'delete'];

/** `prompt=question,completion=answer` → {prompt: 'question', completion: 'answer'}. */
export function parseMapping(s: string | undefined): Record<string, string> | undefined {
  if (s === undefined) return undefined;
  const mapping: Record<string, string> = {};
  for (const pair of s.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw new CliError(`--map: expected FIELD=COLUMN pairs separated by commas, got "${pair}"`, 2);
    mapping[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return mapping;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new CliError(`--${flag} must be one of ${allowed.join(', ')}; got "${value}"`, 2);
  return value as T;
}

function datasetId(positionals: string[], sub: string): number {
  if (positionals.length !== 1) throw new CliError(`datasets ${sub}: give one dataset id`, 2);
  const id = Number(positionals[0]);
  if (!Number.isInteger(id) || id <= 0) throw new CliError(`datasets ${sub}: "${positionals[0]}" is not a dataset id`, 2);
  return id;
}

const sourceOptions = {
  format: { type: 'string' },
  container: { type: 'string' },
  map: { type: 'string' },
  'text-unit': { type: 'string' },
  'json-field': { type: 'string' },
} as const;

function sourceArgs(values: { format?: string; container?: string; map?: string; 'text-unit'?: string; 'json-field'?: string }) {
  const format = values.format === 'auto' ? undefined : oneOf(values.format, DATASET_SHAPES, 'format');
  return {
    shape: format,
    container: oneOf(values.container, DATASET_CONTAINERS, 'container'),
    mapping: parseMapping(values.map),
    textUnit: oneOf(values['text-unit'], ['file', 'block'] as const, 'text-unit'),
    jsonField: values['json-field'],
  };
}

function messageLines(example: DatasetExample): string[] {
  if ('text' in example) return [indent(example.text)];
  return example.messages.map((m) => `  ${m.role}${m.weight === 0 ? ' (weight 0)' : ''}: ${m.content.replace(/\n/g, '\n    ')}`);
}

const indent = (s: string) => '  ' + s.replace(/\n/g, '\n  ');

/** The rendered row with masked tokens dimmed (terminal) or inside ⟦ ⟧ (pipes, files). */
function renderedLines(row: PreviewRow, color: boolean): string[] {
  if (row.renderError) return [`  ✗ ${row.renderError}`];
  const r = row.rendered!;
  let text = '';
  let masked = false;
  for (const p of r.pieces) {
    if (color) text += p.trained ? `\x1b[1;32m${p.text}\x1b[0m` : `\x1b[2m${p.text}\x1b[0m`;
    else {
      if (!p.trained && !masked) text += '⟦';
      if (p.trained && masked) text += '⟧';
      text += p.text;
      masked = !p.trained;
    }
  }
  if (!color && masked) text += '⟧';
  return [`  ${r.tokens} tokens, ${r.trainedTokens} trained${r.truncated ? ', truncated' : ''}`, indent(text)];
}

async function runImport(ctx: CliContext, rest: string[]): Promise<void> {
  const { values, positionals } = parse(rest, {
    ...sourceOptions,
    name: { type: 'string' },
    'on-error': { type: 'string' },
    'eval-split': { type: 'string' },
    seed: { type: 'string' },
    'on-duplicate': { type: 'string' },
    'version-of': { type: 'string' },
  });
  if (positionals.length !== 1) throw new CliError('datasets import: give one file or folder', 2);
  const args = ImportArgs.parse({
    path: positionals[0],
    name: values.name,
    ...sourceArgs(values),
    onError: oneOf(values['on-error'], ['skip', 'abort'] as const, 'on-error'),
    evalFraction: numberOption(values['eval-split'], 'eval-split'),
    seed: intOption(values.seed, 'seed'),
    onDuplicate: oneOf(values['on-duplicate'], ['existing', 'new-version', 'new-dataset'] as const, 'on-duplicate'),
    datasetId: intOption(values['version-of'], 'version-of'),
  });
  const service = datasetsService(ctx.engine());
  const importId = `cli-${process.pid}`;
  const showProgress = process.stderr.isTTY === true;
  const off = ctx.engine().events.on('datasets.importProgress', (p) => {
    if (!showProgress || p.importId !== importId || (p.phase !== 'reading' && p.phase !== 'hashing')) return;
    const pct = p.totalBytes ? Math.floor((100 * p.bytes) / p.totalBytes) : 0;
    const speed = `${formatBytes(p.bytesPerSecond)}/s`;
    const line =
      p.phase === 'hashing'
        ? `hashing ${pct}% (${speed})`
        : `importing ${pct}%: ${p.rows} rows, ${Math.round(p.rowsPerSecond)} rows/s, ${speed}${p.etaSeconds !== null ? `, ${Math.ceil(p.etaSeconds)} s left` : ''}`;
    process.stderr.write(`\r\x1b[K${line}`);
  });
  const onSigint = () => service.cancelImport(importId);
  process.once('SIGINT', onSigint);
  try {
    const r = await service.import({ ...args, importId });
    if (showProgress) process.stderr.write('\r\x1b[K');
    const result = {
      id: r.id,
      rows: r.rows,
      skipped: r.skipped,
      skippedCount: r.skippedCount,
      version: r.version,
      format: r.format,
      shape: r.shape,
      train: r.train,
      eval: r.eval,
      ...(r.duplicateOf ? { duplicateOf: r.duplicateOf, reused: r.reused } : {}),
    };
    ctx.print(result, () => {
      const lines: string[] = [];
      if (r.reused) {
        lines.push(`Already imported: dataset ${r.id} version ${r.version} holds these bytes (${r.rows} rows). Use --on-duplicate new-version to import again.`);
        return lines.join('\n');
      }
      const speed = r.seconds > 0 ? `, ${formatBytes(r.bytes / r.seconds)}/s` : '';
      lines.push(`Imported dataset ${r.id} version ${r.version}: ${r.rows} rows (${r.shape}, ${r.format}), ${r.train} train / ${r.eval} eval, in ${r.seconds.toFixed(1)} s${speed}`);
      if (r.duplicateOf) lines.push(`  (the same bytes were imported before as dataset ${r.duplicateOf.datasetId} version ${r.duplicateOf.version})`);
      const m = Object.entries(r.mapping).filter(([k, v]) => k !== v);
      if (m.length) lines.push(`  column mapping: ${m.map(([k, v]) => `${k}=${v}`).join(', ')}`);
      if (r.skippedCount) {
        lines.push(`  ${r.skippedCount} line(s) skipped:`);
        for (const s of r.skipped.slice(0, 20)) lines.push(`    ${s.file ? `${s.file} ` : ''}line ${s.line}: ${s.reason}`);
        if (r.skippedCount > 20) lines.push(`    … and ${r.skippedCount - 20} more (--json lists up to 1000)`);
      }
      return lines.join('\n');
    });
  } catch (err) {
    if (showProgress) process.stderr.write('\r\x1b[K');
    if ((err as Error).name === 'ImportCancelledError') throw new CliError('import cancelled; nothing was kept', 130);
    throw err;
  } finally {
    off();
    process.off('SIGINT', onSigint);
  }
}

export const datasets: Command = {
  name: 'datasets',
  summary: 'Datasets: import JSONL/JSON/CSV/TSV/Parquet/text, list, show rows as the model sees them, stats, split',
  usage: [
    'lora-studio datasets import FILE|FOLDER [--name N] [--format auto|alpaca|sharegpt|messages|prompt-completion|text]',
    '        [--on-error skip|abort] [--map prompt=question,completion=answer] [--eval-split 0.1] [--seed 0]',
    '        [--container jsonl|json|csv|tsv|parquet|text] [--text-unit file|block] [--json-field KEY]',
    '        [--on-duplicate existing|new-version|new-dataset] [--version-of ID] [--json]',
    'lora-studio datasets inspect FILE|FOLDER [--format ...] [--map ...] [--json]   shape detection and first rows, no import',
    'lora-studio datasets list [--json]',
    'lora-studio datasets show ID [--rows N] [--model M] [--template model|chatml|alpaca|plain] [--max-length N]',
    '        [--version V] [--split train|eval] [--offset K] [--json]     M: a model id or folder; masked tokens dimmed, or in ⟦ ⟧ when piped',
    'lora-studio datasets stats ID [--model M] [--template T] [--max-length 1024] [--sample N] [--json]',
    'lora-studio datasets split ID --eval-split F [--seed S] [--version V] [--json]',
    'lora-studio datasets delete ID [--json]',
  ],
  async run(ctx, argv) {
    const [sub, rest] = subcommand(argv, SUBCOMMANDS, 'datasets');
    if (sub === 'import') return runImport(ctx, rest);
    const service = datasetsService(ctx.engine());
    switch (sub) {
      case 'inspect': {
        const { values, positionals } = parse(rest, { ...sourceOptions, rows: { type: 'string' } });
        if (positionals.length !== 1) throw new CliError('datasets inspect: give one file or folder', 2);
        const r = await service.inspect({ path: positionals[0], ...sourceArgs(values), samples: intOption(values.rows, 'rows', 3)! });
        ctx.print(r, () =>
          [
            `${r.path}: ${r.kind === 'folder' ? `${r.files.length} files, ` : ''}${r.container}, ${formatBytes(r.sizeBytes)}`,
            `  keys found    ${r.keys.join(', ') || '(none)'}`,
            r.shape ? `  shape         ${r.shape} (mapping ${Object.entries(r.mapping).map(([k, v]) => `${k}=${v}`).join(', ')})` : `  shape         unknown: ${r.shapeError}`,
            ...r.samples.flatMap((s) => [`line ${s.line}:`, ...(s.error ? [`  ✗ ${s.error}`] : s.example ? messageLines(s.example) : [indent(JSON.stringify(s.raw))])]),
          ].join('\n'),
        );
        return;
      }
      case 'list': {
        parse(rest, {}, false);
        const list = service.list();
        ctx.print(list, () =>
          list.length === 0
            ? 'No datasets yet. Import one with `lora-studio datasets import FILE`.'
            : table(
                ['ID', 'NAME', 'FORMAT', 'SHAPE', 'ROWS', 'TRAIN/EVAL', 'VERSION', 'SKIPPED', 'CREATED'],
                list.map((d) => [d.id, d.name, d.format, d.shape, d.latest.rows, `${d.latest.train}/${d.latest.eval}`, d.latest.version, d.latest.skippedCount, d.createdAt.slice(0, 16).replace('T', ' ')]),
              ),
        );
        return;
      }
      case 'show': {
        const { values, positionals } = parse(rest, {
          rows: { type: 'string' },
          model: { type: 'string' },
          template: { type: 'string' },
          'max-length': { type: 'string' },
          version: { type: 'string' },
          split: { type: 'string' },
          offset: { type: 'string' },
        });
        const id = datasetId(positionals, 'show');
        const detail = service.get(id);
        const preview = service.preview({
          id,
          version: intOption(values.version, 'version'),
          offset: intOption(values.offset, 'offset', 0)!,
          limit: intOption(values.rows, 'rows', 3)!,
          split: oneOf(values.split, ['train', 'eval'] as const, 'split'),
          model: values.model,
          template: oneOf(values.template, DATASET_TEMPLATES, 'template') ?? 'model',
          maxLength: intOption(values['max-length'], 'max-length'),
        });
        const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
        ctx.print({ ...detail, preview }, () => {
          const v = detail.versions.find((x) => x.version === preview.version)!;
          const lines = [
            `Dataset ${detail.id}: ${detail.name} (${detail.shape}, ${detail.format})`,
            `  source     ${v.sourcePath ?? ''}`,
            `  version    ${v.version} of ${detail.versions.length}, ${v.rows} rows (${v.train} train / ${v.eval} eval, seed ${v.splitSeed}), ${v.skippedCount} skipped`,
            `  sha256     ${v.contentHash}`,
          ];
          if (preview.template) {
            lines.push(`  template   ${preview.template.name}${preview.template.fallbackReason ? ` (${preview.template.fallbackReason})` : ''}`);
            lines.push(color ? '  legend     \x1b[1;32mtrained\x1b[0m, \x1b[2mmasked (prompt)\x1b[0m' : '  legend     ⟦masked (prompt)⟧, the rest is trained');
          }
          for (const row of preview.rows) {
            lines.push('', `#${row.idx} (line ${row.line ?? '?'}, ${row.split})`, ...messageLines(row.example));
            if (preview.template) lines.push('  as the model sees it:', ...renderedLines(row, color));
          }
          return lines.join('\n');
        });
        return;
      }
      case 'stats': {
        const { values, positionals } = parse(rest, {
          model: { type: 'string' },
          template: { type: 'string' },
          'max-length': { type: 'string' },
          sample: { type: 'string' },
          version: { type: 'string' },
        });
        const s = service.stats({
          id: datasetId(positionals, 'stats'),
          version: intOption(values.version, 'version'),
          model: values.model,
          template: oneOf(values.template, DATASET_TEMPLATES, 'template') ?? 'model',
          maxLength: intOption(values['max-length'], 'max-length', 1024)!,
          sampleRows: intOption(values.sample, 'sample', 2000)!,
          bins: 20,
        });
        ctx.print(s, () => {
          const h = s.histogram;
          const peak = Math.max(1, ...h.bins.map((b) => b.count));
          return [
            `Dataset ${s.datasetId} version ${s.version}: ${s.rows} rows (${s.train} train / ${s.eval} eval), ${s.measured} measured`,
            `  length (${h.unit})  min ${h.min}, median ${h.p50}, p95 ${h.p95}, max ${h.max}, mean ${h.mean.toFixed(1)}`,
            `  over ${s.maxLength}  ${s.overLong} rows (${(100 * s.truncatedShare).toFixed(1)}% would be truncated)`,
            `  empty prompts ${s.empty}, duplicates ${s.duplicates}${s.templateErrors ? `, template refuses ${s.templateErrors}` : ''}`,
            ...s.templateErrorSamples.slice(0, 3).map((e) => `    line ${e.line}: ${e.reason}`),
            ...h.bins.map((b) => `  ${String(b.from).padStart(7)}–${String(b.to - 1).padEnd(7)} ${'█'.repeat(Math.ceil((40 * b.count) / peak))} ${b.count}`),
          ].join('\n');
        });
        return;
      }
      case 'split': {
        const { values, positionals } = parse(rest, { 'eval-split': { type: 'string' }, seed: { type: 'string' }, version: { type: 'string' } });
        const fraction = numberOption(values['eval-split'], 'eval-split');
        if (fraction === undefined || fraction < 0 || fraction > 0.9) throw new CliError('datasets split: --eval-split F (0 to 0.9) is required', 2);
        const r = service.split(datasetId(positionals, 'split'), intOption(values.version, 'version'), fraction, intOption(values.seed, 'seed', 0)!);
        ctx.print(r, `Split: ${r.train} train / ${r.eval} eval`);
        return;
      }
      case 'delete': {
        const { positionals } = parse(rest, {});
        const id = datasetId(positionals, 'delete');
        const r = service.delete(id);
        if (!r.deleted) throw new CliError(`no dataset with id ${id}`, 1);
        ctx.print(r, `Deleted dataset ${id}`);
        return;
      }
    }
  },
};
