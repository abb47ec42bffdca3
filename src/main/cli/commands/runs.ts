/** `lora-studio runs list|show RUN|metrics RUN`: the run history, one run, its metric series. */
import { exportRunConfig } from '../../services/export-config';
import { runsService } from '../../services/runs';
import type { Command } from '../command';
import { intOption, parse, subcommand } from '../command';
import { CliError } from '../context';
import { formatBytes, formatCount, table } from '../format';

function runId(positionals: string[], sub: string): number {
  if (positionals.length !== 1) throw new CliError(`runs ${sub}: give one run id`, 2);
  return intOption(positionals[0], 'RUN')!;
}

export const runs: Command = {
  name: 'runs',
  summary: 'Training runs: list them, show one, print its metrics, export one for Axolotl or TRL',
  usage: [
    'lora-studio runs list [--status S] [--json]',
    'lora-studio runs show RUN [--json]',
    'lora-studio runs metrics RUN [--names loss,eval_loss] [--json]',
    'lora-studio runs export-config RUN --to axolotl|trl --out DIR [--json]   the same fine-tune for a multi-GPU cluster',
  ],
  run(ctx, argv) {
    const [sub, rest] = subcommand(argv, ['list', 'show', 'metrics', 'export-config'], 'runs');
    const service = runsService(ctx.engine());
    switch (sub) {
      case 'list': {
        const { values } = parse(rest, { status: { type: 'string' } }, false);
        const list = service.list(values.status);
        ctx.print(list, () =>
          list.length === 0
            ? 'No runs yet. Start one with `lora-studio train --model M --dataset D`.'
            : table(
                ['ID', 'NAME', 'STATUS', 'STEP', 'LOSS', 'EVAL', 'PARAMS', 'ADAPTER', 'CREATED'],
                list.map((r) => [
                  r.id,
                  r.name,
                  r.status,
                  r.step === null ? '' : `${r.step}/${r.totalSteps ?? '?'}`,
                  r.lastLoss?.toFixed(4) ?? '',
                  r.lastEvalLoss?.toFixed(4) ?? '',
                  r.trainableParams === null ? '' : formatCount(r.trainableParams),
                  r.adapterId ?? '',
                  r.createdAt.slice(0, 19).replace('T', ' '),
                ]),
              ),
        );
        return;
      }
      case 'show': {
        const { positionals } = parse(rest, {});
        const r = service.get(runId(positionals, 'show'));
        const c = r.config;
        ctx.print(r, () =>
          [
            `run ${r.id}: ${r.name}`,
            `  status        ${r.status}${r.error ? ` — ${r.error}` : ''}${r.resumable ? ' (resumable: lora-studio train --resume ' + r.id + ')' : ''}`,
            `  model         ${c.model}   dataset ${c.dataset}${c.template ? `   template ${c.template}` : ''}`,
            `  adapter       rank ${c.rank}, alpha ${c.alpha}${c.rslora ? ' (rsLoRA)' : ''}, dropout ${c.dropout}, init ${c.init}, targets ${(c.targets ?? ['(default)']).join(',')}, layers ${c.layers === 'all' ? 'all' : c.layers.join(',')}`,
            `  training      lr ${c.lr} ${c.scheduler} (warmup ${c.warmup}), batch ${c.batchSize}×${c.gradAccum}, seq ${c.seqLen}, ${c.maxSteps ? `${c.maxSteps} steps` : `${c.epochs} epoch(s)`}, seed ${c.seed}`,
            `  progress      step ${r.step ?? 0}/${r.totalSteps ?? '?'}, loss ${r.lastLoss?.toFixed(4) ?? '-'}, eval loss ${r.lastEvalLoss?.toFixed(4) ?? '-'}`,
            `  backend       ${r.backend ?? '-'}`,
            r.estimate
              ? `  estimate      ${formatCount(r.estimate.trainableParams)} trainable params (${r.estimate.trainableParams}), ${formatBytes(r.estimate.memory.totalBytes)} memory`
              : '',
            `  adapter id    ${r.adapterId ?? '-'}`,
            `  checkpoints   ${r.checkpoints.map((k) => k.step).join(', ') || '-'}`,
            ...r.samples.slice(-3).map((s) => `  sample @${s.step} ${JSON.stringify(s.prompt)} → ${JSON.stringify(s.text)}`),
          ]
            .filter(Boolean)
            .join('\n'),
        );
        return;
      }
      case 'metrics': {
        const { values, positionals } = parse(rest, { names: { type: 'string' } });
        const names = values.names?.split(',').map((s) => s.trim());
        const m = service.metricsOf(runId(positionals, 'metrics'), names);
        ctx.print(m, () => {
          const cols = Object.keys(m);
          if (cols.length === 0) return 'No metrics yet.';
          const steps = [...new Set(cols.flatMap((k) => m[k].map((p) => p.step)))].sort((a, b) => a - b);
          const at = new Map(cols.map((k) => [k, new Map(m[k].map((p) => [p.step, p.value]))]));
          return table(['STEP', ...cols.map((k) => k.toUpperCase())], steps.map((s) => [s, ...cols.map((k) => {
            const v = at.get(k)!.get(s);
            return v === undefined ? '' : Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
          })]));
        });
        return;
      }
      case 'export-config': {
        const { values, positionals } = parse(rest, { to: { type: 'string' }, out: { type: 'string' } });
        const id = runId(positionals, 'export-config');
        if (values.to !== 'axolotl' && values.to !== 'trl') throw new CliError('runs export-config: --to must be axolotl or trl', 2);
        if (!values.out) throw new CliError('runs export-config: --out DIR is required', 2);
        const r = exportRunConfig(ctx.engine(), id, values.to, values.out);
        ctx.print(r, `Wrote ${r.files.join(', ')} (${r.rows} rows) to ${r.dir}`);
        return;
      }
    }
  },
};
