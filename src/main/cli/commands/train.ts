/**
 * `lora-studio train`: validate a run, queue it, and follow it to the end. Progress goes to
 * stderr; with --json every event is one JSON object per line on stdout, and the last line holds
 * the run id, its status and the adapter id. Ctrl-C cancels the run (its checkpoint is kept, so
 * `train --resume RUN` continues it).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunSummary } from '../../../shared/contract/runs';
import type { EventName } from '../../../shared/contract';
import { UserError } from '../../errors';
import { runsService } from '../../services/runs';
import type { Command } from '../command';
import { intOption, numberOption, parse } from '../command';
import { CliError } from '../context';
import { formatCount } from '../format';

const OPTIONS = {
  model: { type: 'string' },
  dataset: { type: 'string' },
  'dataset-version': { type: 'string' },
  template: { type: 'string' },
  targets: { type: 'string' },
  layers: { type: 'string' },
  rank: { type: 'string' },
  alpha: { type: 'string' },
  dropout: { type: 'string' },
  rslora: { type: 'boolean' },
  init: { type: 'string' },
  lr: { type: 'string' },
  scheduler: { type: 'string' },
  warmup: { type: 'string' },
  'weight-decay': { type: 'string' },
  'max-grad-norm': { type: 'string' },
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' },
  'seq-len': { type: 'string' },
  'train-on-prompt': { type: 'boolean' },
  'eval-split': { type: 'string' },
  'eval-every': { type: 'string' },
  'early-stop': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'sample-every': { type: 'string' },
  'sample-prompt': { type: 'string', multiple: true },
  seed: { type: 'string' },
  backend: { type: 'string' },
  'from-adapter': { type: 'string' },
  name: { type: 'string' },
  config: { type: 'string' },
  resume: { type: 'string' },
  step: { type: 'string' },
} as const;

/** `all` or `0-3,7` → 'all' | [0, 1, 2, 3, 7]. */
export function parseLayers(s: string): 'all' | number[] {
  if (s === 'all') return 'all';
  const out = new Set<number>();
  for (const part of s.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new CliError(`--layers: "${part}" is not a layer number or range (use all, or e.g. 0-3,7)`, 2);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new CliError(`--layers: range "${part}" runs backwards`, 2);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/** Flags over the --config file's values (flags win). */
export function configFromArgs(values: Record<string, string | boolean | string[] | undefined>): Record<string, unknown> {
  let config: Record<string, unknown> = {};
  if (typeof values.config === 'string') {
    try {
      config = JSON.parse(fs.readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`--config ${values.config}: ${(err as Error).message}`, 2);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new CliError(`--config ${values.config}: not a JSON object`, 2);
  }
  const str = (k: string) => values[k] as string | undefined;
  const set = (key: string, v: unknown) => {
    if (v !== undefined) config[key] = v;
  };
  const idOr = (v?: string) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : v);
  // A folder given on the command line is stored absolute, so `train --resume` works from anywhere.
  const idOrFolder = (v?: string) => (v !== undefined && !/^\d+$/.test(v) ? path.resolve(v) : idOr(v));
  set('model', idOrFolder(str('model')));
  set('dataset', idOr(str('dataset')));
  set('datasetVersion', intOption(str('dataset-version'), 'dataset-version'));
  set('template', str('template'));
  set('targets', str('targets')?.split(',').map((t) => t.trim()).filter(Boolean));
  set('layers', str('layers') === undefined ? undefined : parseLayers(str('layers')!));
  set('rank', intOption(str('rank'), 'rank'));
  set('alpha', numberOption(str('alpha'), 'alpha'));
  set('dropout', numberOption(str('dropout'), 'dropout'));
  if (values.rslora) set('rslora', true);
  set('init', str('init'));
  set('lr', numberOption(str('lr'), 'lr'));
  set('scheduler', str('scheduler'));
  set('warmup', intOption(str('warmup'), 'warmup'));
  set('weightDecay', numberOption(str('weight-decay'), 'weight-decay'));
  set('maxGradNorm', numberOption(str('max-grad-norm'), 'max-grad-norm'));
  set('epochs', intOption(str('epochs'), 'epochs'));
  set('maxSteps', intOption(str('max-steps'), 'max-steps'));
  set('batchSize', intOption(str('batch-size'), 'batch-size'));
  set('gradAccum', intOption(str('grad-accum'), 'grad-accum'));
  set('seqLen', intOption(str('seq-len'), 'seq-len'));
  if (values['train-on-prompt']) set('completionOnly', false);
  set('evalSplit', numberOption(str('eval-split'), 'eval-split'));
  set('evalEvery', intOption(str('eval-every'), 'eval-every'));
  set('earlyStopPatience', intOption(str('early-stop'), 'early-stop'));
  set('checkpointEvery', intOption(str('checkpoint-every'), 'checkpoint-every'));
  set('sampleEvery', intOption(str('sample-every'), 'sample-every'));
  set('samplePrompts', values['sample-prompt']);
  set('seed', intOption(str('seed'), 'seed'));
  set('backend', str('backend'));
  set('fromAdapter', idOrFolder(str('from-adapter')));
  set('name', str('name'));
  return config;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export const train: Command = {
  name: 'train',
  summary: 'Train a LoRA adapter on a dataset (in its own process), with live progress',
  usage: [
    'lora-studio train --model M --dataset D [--targets q_proj,v_proj] [--layers all|0-3,7] [--rank 8] [--alpha 16]',
    '                  [--dropout 0.05] [--rslora] [--init default|gaussian|pissa] [--lr 2e-4] [--scheduler constant|linear|cosine]',
    '                  [--warmup 10] [--epochs N | --max-steps N] [--batch-size B] [--grad-accum G] [--seq-len L]',
    '                  [--eval-split 0.1] [--eval-every N] [--early-stop PATIENCE] [--checkpoint-every N]',
    '                  [--sample-every N --sample-prompt TEXT ...] [--train-on-prompt] [--weight-decay W] [--max-grad-norm N]',
    '                  [--seed S] [--backend NAME] [--from-adapter A] [--template model|chatml|alpaca|plain] [--name N] [--json]',
    'lora-studio train --config run.json [flags that override it] [--json]',
    'lora-studio train --resume RUN [--step N] [--json]     continue from the latest (or step N) checkpoint',
  ],
  async run(ctx, argv) {
    const { values } = parse(argv, OPTIONS, false);
    const engine = ctx.engine();
    const service = runsService(engine);
    let run: RunSummary;
    try {
      if (values.resume !== undefined) {
        const id = intOption(values.resume, 'resume')!;
        run = service.resume(id, intOption(values.step, 'step'));
      } else {
        const config = configFromArgs(values);
        if (config.model === undefined || config.dataset === undefined) throw new CliError('train: --model and --dataset are required (or --config FILE)', 2);
        const estimate = service.estimate(config);
        ctx.info(
          `trainable parameters ${formatCount(estimate.trainableParams)} (${estimate.trainableParams}) in ${estimate.modules} modules; ` +
            `${estimate.totalSteps} steps over ${estimate.trainExamples} examples (${estimate.evalExamples} held out); ` +
            `memory estimate ${(estimate.memory.totalBytes / 2 ** 20).toFixed(0)} MiB`,
        );
        run = service.create(config);
      }
    } catch (err) {
      if (err instanceof UserError) throw new CliError(err.message, 2);
      throw err;
    }
    const runId = run.id;
    ctx.info(`run ${runId}: ${run.name} (${run.status})`);

    const forward = (event: EventName, payload: unknown) => {
      if ((payload as { runId?: number; id?: number }).runId !== runId && (payload as { id?: number }).id !== runId) return;
      ctx.emitJson({ event, ...(payload as object) });
      if (event === 'runs.step') {
        const p = payload as { step: number; totalSteps: number; loss: number; lr: number; gradNorm: number; tokensPerSecond: number; etaMs: number };
        ctx.info(
          `step ${p.step}/${p.totalSteps}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  grad ${p.gradNorm.toFixed(3)}  ` +
            `${p.tokensPerSecond.toFixed(0)} tok/s  eta ${duration(p.etaMs)}`,
        );
      } else if (event === 'runs.eval') {
        const p = payload as { step: number; evalLoss: number; perplexity: number };
        ctx.info(`eval at step ${p.step}: loss ${p.evalLoss.toFixed(4)}, perplexity ${p.perplexity.toFixed(2)}`);
      } else if (event === 'runs.checkpoint') {
        ctx.info(`checkpoint at step ${(payload as { step: number }).step}`);
      } else if (event === 'runs.sample') {
        const p = payload as { step: number; prompt: string; text: string };
        ctx.info(`sample at step ${p.step}: ${JSON.stringify(p.prompt)} → ${JSON.stringify(p.text)}`);
      } else if (event === 'runs.changed') {
        const p = payload as RunSummary;
        ctx.info(`run ${runId}: ${p.status}${p.backend ? ` on ${p.backend}` : ''}${p.error ? ` — ${p.error}` : ''}`);
      }
    };
    const unsubscribe = engine.events.onAny(forward);
    const onSigint = () => {
      ctx.info('cancelling (a checkpoint is saved; `lora-studio train --resume ' + runId + '` continues) ...');
      try {
        service.cancel(runId);
      } catch {
        /* already finished */
      }
    };
    process.on('SIGINT', onSigint);
    let final: RunSummary;
    try {
      final = await service.waitFor(runId);
    } finally {
      process.off('SIGINT', onSigint);
      unsubscribe();
    }
    const result = { runId, status: final.status, adapterId: final.adapterId, error: final.error };
    if (ctx.json) ctx.emitJson(result);
    else process.stdout.write(`run ${runId} ${final.status}${final.adapterId ? `; adapter ${final.adapterId}` : ''}${final.error ? `: ${final.error}` : ''}\n`);
    if (final.status === 'failed') throw new CliError(`run ${runId} failed: ${final.error ?? 'unknown cause'}`, 1);
  },
};
