import type { ExportRecord } from '../../../shared/contract';
import { ExportStartArgs } from '../../../shared/contract/exports';
import type { Command } from '../command';
import { parse, subcommand } from '../command';
import { CliError, type CliContext } from '../context';
import { AdapterLibrary } from '../../adapters/library';
import { exportsService } from '../../export/service';
import { formatBytes } from '../format';

function parseSize(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(s.trim());
  if (!m) throw new CliError(`--shard-size: "${s}" is not a size like 2GB or 500MiB`, 2);
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  return Math.round(Number(m[1]) * mult[(m[2] ?? 'B').toLowerCase()]);
}

function humanResult(r: ExportRecord): string {
  const res = (r.result ?? {}) as Record<string, unknown>;
  const lines = [`Export ${r.id} (${r.kind}) completed: ${r.path}`];
  const files = (res.files as { name: string; bytes: number }[] | undefined) ?? [];
  for (const f of files) lines.push(`  ${f.name.padEnd(34)} ${formatBytes(f.bytes)}`);
  if (r.kind === 'gguf') {
    lines.push(`  ${String(res.file)}  ${formatBytes(Number(res.bytes))}, ${String(res.tensors)} tensors ${JSON.stringify(res.tensorTypes)}`);
    const md = (res.metadata ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(md)) lines.push(`    ${k} = ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    const mf = res.modelfile as { file: string; translated: boolean; note?: string; stops: string[] } | null;
    if (mf) lines.push(`  Modelfile: ${mf.file} (${mf.translated ? 'TEMPLATE translated from the training template' : mf.note}; stop ${mf.stops.join(', ')})`);
  }
  const v = res.verification as { passed: boolean; relativeDiff: number; tolerance: number; dtype: string; top1Agreement: number; prompts: number; tokens: number } | null | undefined;
  if (v) {
    lines.push(
      `  logits check: ${v.passed ? 'passed' : 'FAILED'} — reloaded export vs base + adapter on ${v.prompts} prompts (${v.tokens} positions): max relative difference ${v.relativeDiff.toExponential(2)} (tolerance ${v.tolerance} for ${v.dtype}), same top token at ${(100 * v.top1Agreement).toFixed(1)}%`,
    );
  } else if (res.verificationNote) lines.push(`  ${String(res.verificationNote)}`);
  return lines.join('\n');
}

/** Starts the job, shows progress on stderr, cancels on Ctrl-C, prints the record. */
async function runJob(ctx: CliContext, args: unknown): Promise<void> {
  const parsed = ExportStartArgs.safeParse(args);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new CliError(`${i.path.join('.') || 'arguments'}: ${i.message}`, 2);
  }
  const engine = ctx.engine();
  const service = exportsService(engine);
  const rec = service.start(parsed.data);
  let last = '';
  const off = engine.events.on('exports.progress', (p) => {
    if (p.id !== rec.id) return;
    const eta = p.etaSeconds !== null ? `, ${Math.ceil(p.etaSeconds)} s left` : '';
    const rate = p.bytesPerSecond ? `, ${formatBytes(p.bytesPerSecond)}/s` : '';
    const line = `${p.phase} ${(100 * p.fraction).toFixed(0)}% (${formatBytes(p.done)} of ${formatBytes(p.total)}${rate}${eta})`;
    if (line !== last) ctx.info(line);
    last = line;
  });
  const onSigint = () => {
    ctx.info('cancelling…');
    service.cancel(rec.id);
  };
  process.once('SIGINT', onSigint);
  try {
    const done = await service.wait(rec.id);
    if (done.status !== 'completed') throw new CliError(`export ${done.status}: ${done.error ?? ''}`, done.status === 'cancelled' ? 130 : 1);
    ctx.print(done, () => humanResult(done));
  } finally {
    off();
    process.removeListener('SIGINT', onSigint);
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'Export an adapter: PEFT folder, merged Hugging Face model, or GGUF (+ Ollama Modelfile)',
  usage: [
    'lora-studio export adapter A --out DIR [--json]',
    'lora-studio export merged A --out DIR [--dtype auto|bf16|f16|f32] [--shard-size 2GB] [--no-verify] [--json]',
    'lora-studio export gguf A --out FILE.gguf [--type f32|f16|q8_0] [--modelfile] [--json]',
    '  A: adapter id or name. The destination must not exist; a job that fails or is cancelled (Ctrl-C) leaves nothing.',
    '  --json prints the export record: the files written, the logits check, the GGUF metadata.',
  ],
  async run(ctx, argv) {
    const [sub, rest] = subcommand(argv, ['adapter', 'merged', 'gguf'], 'export');
    const { values, positionals } = parse(rest, {
      out: { type: 'string' },
      dtype: { type: 'string' },
      'shard-size': { type: 'string' },
      'no-verify': { type: 'boolean' },
      type: { type: 'string' },
      modelfile: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new CliError(`export ${sub}: give one adapter id or name`, 2);
    if (!values.out) throw new CliError(`export ${sub}: --out ${sub === 'gguf' ? 'FILE.gguf' : 'DIR'} is required`, 2);
    const adapter = new AdapterLibrary(ctx.engine()).resolve(positionals[0]);
    const common = { adapterId: adapter.id, out: values.out };
    if (sub === 'adapter') {
      if (values.dtype || values.type || values.modelfile || values['shard-size']) throw new CliError('export adapter takes only --out', 2);
      return runJob(ctx, { ...common, kind: 'peft' });
    }
    if (sub === 'merged') {
      if (values.type || values.modelfile) throw new CliError('--type and --modelfile are GGUF options (export gguf)', 2);
      return runJob(ctx, { ...common, kind: 'merged', dtype: values.dtype ?? 'auto', maxShardBytes: parseSize(values['shard-size']), verify: !values['no-verify'] });
    }
    if (values.dtype || values['shard-size'] || values['no-verify']) throw new CliError('--dtype, --shard-size and --no-verify are merged-export options', 2);
    return runJob(ctx, { ...common, kind: 'gguf', ggufType: values.type ?? 'f16', modelfile: values.modelfile ?? false });
  },
};
