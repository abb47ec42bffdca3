/**
 * A run's metric history in the renderer: the stored history (`runs.metrics`) merged with live
 * step and eval events, without duplicates, whatever the order they arrive in.
 *
 * Re-attaching (a reload, a window re-opened) subscribes to events first and holds them, then
 * loads the stored history, then replays the held events: those the history already covers are
 * dropped, the rest appended. After that, live events append; a step at or before the last one
 * means the run was resumed from an earlier checkpoint, so every series is cut back to before that
 * step (the engine deletes those stored metrics too) and continues from there.
 *
 * Series are columnar (steps[], values[]) and not reactive: charts read them directly and a
 * version number tells them to redraw.
 */
import type { EvalEvent, RunMetrics, StepEvent } from '../../../../shared/contract';

/** Metric names as the engine stores them (metrics.name). */
export const METRIC = {
  loss: 'loss',
  lr: 'lr',
  gradNorm: 'grad_norm',
  tokensPerSecond: 'tokens_per_s',
  evalLoss: 'eval_loss',
  evalPerplexity: 'eval_ppl',
  epoch: 'epoch',
  elapsedMs: 'elapsed_ms',
  rssBytes: 'rss_bytes',
} as const;

export class MetricSeries {
  readonly steps: number[] = [];
  readonly values: number[] = [];

  get length(): number {
    return this.steps.length;
  }

  get lastStep(): number {
    return this.steps.length ? this.steps[this.steps.length - 1] : -Infinity;
  }

  get last(): number | null {
    return this.values.length ? this.values[this.values.length - 1] : null;
  }

  /** Appends; a repeated last step replaces its value; an earlier step cuts the series back first. */
  put(step: number, value: number): void {
    if (step > this.lastStep) {
      this.steps.push(step);
      this.values.push(value);
    } else if (step === this.lastStep) {
      this.values[this.values.length - 1] = value;
    } else {
      this.cutFrom(step);
      this.steps.push(step);
      this.values.push(value);
    }
  }

  /** Drops every point at `step` or later. */
  cutFrom(step: number): void {
    let lo = 0;
    let hi = this.steps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid] < step) lo = mid + 1;
      else hi = mid;
    }
    this.steps.length = lo;
    this.values.length = lo;
  }
}

type Held = { kind: 'step'; ev: StepEvent } | { kind: 'eval'; ev: EvalEvent };

export class RunMetricsLog {
  private readonly series = new Map<string, MetricSeries>();
  private held: Held[] = [];
  /** False until the stored history arrived: live events wait. */
  synced = false;

  get(name: string): MetricSeries {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = new MetricSeries()));
    return s;
  }

  names(): string[] {
    return [...this.series.keys()].filter((n) => this.series.get(n)!.length > 0);
  }

  /** Replaces everything with the stored history, then replays the events held meanwhile. */
  load(history: RunMetrics): void {
    this.series.clear();
    for (const [name, points] of Object.entries(history)) {
      const s = this.get(name);
      for (const p of [...points].sort((a, b) => a.step - b.step)) s.put(p.step, p.value);
    }
    this.synced = true;
    const held = this.held;
    this.held = [];
    for (const h of held) {
      // History written after the event was held already has it; only what is newer counts.
      if (h.kind === 'step' && h.ev.step <= this.get(METRIC.loss).lastStep) continue;
      if (h.kind === 'eval' && h.ev.step <= this.get(METRIC.evalLoss).lastStep) continue;
      if (h.kind === 'step') this.applyStep(h.ev);
      else this.applyEval(h.ev);
    }
  }

  /** Forgets everything (the page re-attaches from scratch after a lost connection). */
  reset(): void {
    this.series.clear();
    this.held = [];
    this.synced = false;
  }

  /** Returns true when the series changed. */
  step(ev: StepEvent): boolean {
    if (!this.synced) {
      this.held.push({ kind: 'step', ev });
      return false;
    }
    this.applyStep(ev);
    return true;
  }

  eval(ev: EvalEvent): boolean {
    if (!this.synced) {
      this.held.push({ kind: 'eval', ev });
      return false;
    }
    this.applyEval(ev);
    return true;
  }

  private applyStep(ev: StepEvent): void {
    // A step at or before the last: resumed from a checkpoint; what came after it is gone.
    if (ev.step < this.get(METRIC.loss).lastStep) for (const s of this.series.values()) s.cutFrom(ev.step);
    this.get(METRIC.loss).put(ev.step, ev.loss);
    this.get(METRIC.lr).put(ev.step, ev.lr);
    this.get(METRIC.gradNorm).put(ev.step, ev.gradNorm);
    this.get(METRIC.tokensPerSecond).put(ev.step, ev.tokensPerSecond);
    this.get(METRIC.epoch).put(ev.step, ev.epoch);
    this.get(METRIC.elapsedMs).put(ev.step, ev.elapsedMs);
    this.get(METRIC.rssBytes).put(ev.step, ev.memory.rssBytes);
  }

  private applyEval(ev: EvalEvent): void {
    this.get(METRIC.evalLoss).put(ev.step, ev.evalLoss);
    this.get(METRIC.evalPerplexity).put(ev.step, ev.perplexity);
  }
}
