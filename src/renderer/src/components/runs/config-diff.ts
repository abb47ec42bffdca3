/**
 * The compare view's settings table (as H2O LLM Studio shows it): one row per run config field,
 * one column per run, the rows whose values differ first and marked.
 */
import type { RunConfigParsed } from '../../../../shared/contract';
import { formatLr } from './format';

/** Config fields in the order the new-run page shows them, with their labels. */
export const CONFIG_FIELDS: { key: keyof RunConfigParsed; label: string; format?: (v: unknown) => string }[] = [
  { key: 'model', label: 'Base model' },
  { key: 'dataset', label: 'Dataset' },
  { key: 'datasetVersion', label: 'Dataset version' },
  { key: 'template', label: 'Template' },
  { key: 'fromAdapter', label: 'Continues adapter' },
  { key: 'targets', label: 'Target modules' },
  { key: 'layers', label: 'Layers' },
  { key: 'rank', label: 'Rank r' },
  { key: 'alpha', label: 'Alpha' },
  { key: 'rslora', label: 'rsLoRA' },
  { key: 'dropout', label: 'Dropout' },
  { key: 'init', label: 'Init' },
  { key: 'rankPattern', label: 'Rank per module' },
  { key: 'alphaPattern', label: 'Alpha per module' },
  { key: 'lr', label: 'Learning rate', format: (v) => formatLr(v as number) },
  { key: 'scheduler', label: 'LR schedule' },
  { key: 'warmup', label: 'Warmup steps' },
  { key: 'weightDecay', label: 'Weight decay' },
  { key: 'beta1', label: 'Adam β1' },
  { key: 'beta2', label: 'Adam β2' },
  { key: 'eps', label: 'Adam ε' },
  { key: 'maxGradNorm', label: 'Gradient clipping' },
  { key: 'epochs', label: 'Epochs' },
  { key: 'maxSteps', label: 'Max steps' },
  { key: 'batchSize', label: 'Batch size' },
  { key: 'gradAccum', label: 'Gradient accumulation' },
  { key: 'seqLen', label: 'Sequence length' },
  { key: 'completionOnly', label: 'Loss on answers only' },
  { key: 'groupByLength', label: 'Group by length' },
  { key: 'evalSplit', label: 'Eval split' },
  { key: 'evalEvery', label: 'Eval every' },
  { key: 'earlyStopPatience', label: 'Early stop patience' },
  { key: 'checkpointEvery', label: 'Checkpoint every' },
  { key: 'sampleEvery', label: 'Samples every' },
  { key: 'samplePrompts', label: 'Sample prompts' },
  { key: 'sampleMaxTokens', label: 'Sample length' },
  { key: 'seed', label: 'Seed' },
  { key: 'backend', label: 'Backend' },
];

export interface DiffRow {
  key: string;
  label: string;
  values: string[];
  differs: boolean;
}

/** How a config value reads in a table cell. */
export function showValue(v: unknown): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length ? entries.map(([k, x]) => `${k}: ${String(x)}`).join(', ') : '—';
  }
  return String(v);
}

/**
 * Rows for the given configs. `names` turns ids into names for the model, dataset and adapter
 * fields. Rows that differ come first (in field order), then the equal ones.
 */
export function configDiff(configs: readonly RunConfigParsed[], names: Partial<Record<'model' | 'dataset' | 'fromAdapter', (v: unknown) => string>> = {}): DiffRow[] {
  const known = new Set<string>(CONFIG_FIELDS.map((f) => f.key));
  const extra = [...new Set(configs.flatMap((c) => Object.keys(c)))].filter((k) => !known.has(k) && k !== 'name');
  const fields = [...CONFIG_FIELDS, ...extra.map((k) => ({ key: k as keyof RunConfigParsed, label: k, format: undefined }))];
  const rows = fields.map((f) => {
    const namer = names[f.key as 'model' | 'dataset' | 'fromAdapter'];
    const values = configs.map((c) => {
      const v = c[f.key];
      if (v === undefined || v === null) return '—';
      if (namer) return namer(v);
      return f.format ? f.format(v) : showValue(v);
    });
    return { key: f.key, label: f.label, values, differs: values.some((v) => v !== values[0]) };
  });
  return [...rows.filter((r) => r.differs), ...rows.filter((r) => !r.differs)];
}
