/**
 * Learning-rate schedules with linear warmup, as transformers' get_*_schedule_with_warmup define
 * them: the multiplier for optimizer step `step` (0-based) of `total`.
 */
export type SchedulerName = 'constant' | 'linear' | 'cosine';

export function lrMultiplier(name: SchedulerName, step: number, total: number, warmup: number): number {
  if (step < warmup) return step / Math.max(1, warmup);
  if (name === 'constant') return 1;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (name === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export function learningRate(name: SchedulerName, baseLr: number, step: number, total: number, warmup: number): number {
  return baseLr * lrMultiplier(name, step, total, warmup);
}
