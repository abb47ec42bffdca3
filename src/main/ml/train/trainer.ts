/**
 * The training loop over an attached LoRA adapter, one optimizer step at a time.
 *
 * A step takes `gradAccum` batches from the epoch plan, sums their gradients (each batch's loss
 * is divided by the trained tokens of the whole step), clips the global norm, and applies AdamW
 * at the scheduled learning rate. Only the adapter's variables are differentiated: the base
 * weights are plain tensors and never get a gradient. Everything random comes from the run's Rng,
 * and the state that decides the future (step, epoch, plan, cursor, Rng, optimizer moments,
 * early-stop counters) goes into checkpoints (./checkpoint.ts), so a resumed run replays the
 * uninterrupted one exactly on the same backend.
 *
 * Leaves out: mixed precision, multiple devices, sequence packing.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { LoraAdapter } from '../lora/adapter';
import type { CausalLM } from '../models/causal-lm';
import { AdamW, clipByGlobalNorm, globalNorm } from './adamw';
import { disposeBatch, makeBatch, planEpoch, type TokenizedExample } from './batches';
import { batchLossSum } from './loss';
import { Rng, type RngState } from './rng';
import { learningRate, type SchedulerName } from './schedule';

export interface TrainOptions {
  lr: number;
  scheduler: SchedulerName;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 0 turns clipping off. */
  maxGradNorm: number;
  /** Used when maxSteps is null. */
  epochs: number;
  maxSteps: number | null;
  batchSize: number;
  gradAccum: number;
  completionOnly: boolean;
  groupByLength: boolean;
  /** Stop after this many evaluations without a better eval loss; 0 = never. */
  earlyStopPatience: number;
  seed: number;
}

/** What decides the rest of the run, apart from the adapter and optimizer tensors. */
export interface LoopState {
  step: number;
  epoch: number;
  cursor: number;
  plan: number[][];
  rng: RngState;
  bestEvalLoss: number | null;
  evalsWithoutImprovement: number;
  tokensSeen: number;
  stoppedEarly: boolean;
}

export interface StepResult {
  step: number;
  /** Fractional epoch, e.g. 1.25. */
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Real (non-pad) tokens this step processed. */
  tokens: number;
  trainedTokens: number;
}

export interface EvalResult {
  step: number;
  loss: number;
  perplexity: number;
  tokens: number;
  improved: boolean;
  stopEarly: boolean;
}

/** The optimizer steps of a run: maxSteps, else epochs × ⌈batches / gradAccum⌉. */
export function totalSteps(numExamples: number, opts: Pick<TrainOptions, 'maxSteps' | 'epochs' | 'batchSize' | 'gradAccum'>): number {
  if (opts.maxSteps !== null) return opts.maxSteps;
  const batches = Math.ceil(numExamples / opts.batchSize);
  return Math.ceil(batches / opts.gradAccum) * opts.epochs;
}

export class Trainer {
  readonly optimizer: AdamW;
  readonly totalSteps: number;
  private rng: Rng;
  private state: LoopState;
  private readonly lengths: number[];

  constructor(
    readonly model: CausalLM,
    readonly adapter: LoraAdapter,
    readonly train: TokenizedExample[],
    readonly evalSet: TokenizedExample[],
    readonly opts: TrainOptions,
    readonly padId: number,
    restore?: { loop: LoopState; optimizer: { step: number; m: Float32Array[]; v: Float32Array[] } },
  ) {
    if (train.length === 0) throw new Error('the training split is empty');
    this.lengths = train.map((e) => e.ids.length);
    this.optimizer = new AdamW(adapter.variables(), opts);
    this.totalSteps = totalSteps(train.length, opts);
    if (restore) {
      this.state = structuredClone(restore.loop);
      this.rng = Rng.fromState(restore.loop.rng);
      this.optimizer.restore(restore.optimizer);
    } else {
      this.rng = Rng.fromSeed(opts.seed, 2);
      this.state = {
        step: 0,
        epoch: 0,
        cursor: 0,
        plan: planEpoch(this.lengths, opts.batchSize, this.rng, opts.groupByLength),
        rng: this.rng.state(),
        bestEvalLoss: null,
        evalsWithoutImprovement: 0,
        tokensSeen: 0,
        stoppedEarly: false,
      };
    }
  }

  get step(): number {
    return this.state.step;
  }

  get done(): boolean {
    return this.state.step >= this.totalSteps || this.state.stoppedEarly;
  }

  /** Epochs completed plus the share of the current one. */
  get epochProgress(): number {
    return this.state.epoch + this.state.cursor / Math.max(1, this.state.plan.length);
  }

  /** A copy of the loop state, with the Rng's current position. */
  loopState(): LoopState {
    return { ...structuredClone(this.state), rng: this.rng.state() };
  }

  /** One optimizer step. */
  trainStep(): StepResult {
    if (this.state.cursor >= this.state.plan.length) {
      this.state.epoch += 1;
      this.state.cursor = 0;
      this.state.plan = planEpoch(this.lengths, this.opts.batchSize, this.rng, this.opts.groupByLength);
    }
    const micro = this.state.plan.slice(this.state.cursor, this.state.cursor + this.opts.gradAccum);
    this.state.cursor += micro.length;
    const batches = micro.map((idx) => makeBatch(idx.map((i) => this.train[i]), this.padId, this.opts.completionOnly));
    const trained = batches.reduce((n, b) => n + b.trainedTokens, 0);
    const tokens = batches.reduce((n, b) => n + b.realTokens, 0);
    const vars = this.optimizer.params;
    let sums: Tensor[] | null = null;
    let lossSum = 0;
    this.adapter.setTraining(this.rng);
    try {
      for (const batch of batches) {
        const { value, grads } = tf.variableGrads(() => tf.div(batchLossSum(this.model, batch), Math.max(1, trained)), vars);
        lossSum += value.dataSync()[0];
        value.dispose();
        const ordered = vars.map((v) => grads[v.name]);
        if (sums === null) sums = ordered;
        else {
          const prev: Tensor[] = sums;
          sums = prev.map((s, i) => tf.add(s, ordered[i]));
          tf.dispose([...prev, ...ordered]);
        }
      }
    } finally {
      this.adapter.setTraining(null);
      batches.forEach(disposeBatch);
    }
    const grads = sums as Tensor[];
    const gradNorm = globalNorm(grads);
    const clipped = clipByGlobalNorm(grads, gradNorm, this.opts.maxGradNorm);
    const lr = learningRate(this.opts.scheduler, this.opts.lr, this.state.step, this.totalSteps, this.opts.warmupSteps);
    this.optimizer.apply(clipped, lr);
    tf.dispose(grads);
    if (clipped !== grads) tf.dispose(clipped);
    this.state.step += 1;
    this.state.tokensSeen += tokens;
    this.state.rng = this.rng.state();
    return { step: this.state.step, epoch: this.epochProgress, loss: lossSum, lr, gradNorm, tokens, trainedTokens: trained };
  }

  /**
   * Mean token loss over the eval split (dropout off), its perplexity, and the early-stop
   * bookkeeping. Null when there is no eval split.
   */
  evaluate(): EvalResult | null {
    if (this.evalSet.length === 0) return null;
    const { loss, tokens } = meanLoss(this.model, this.evalSet, this.opts.batchSize, this.padId, this.opts.completionOnly);
    const improved = this.state.bestEvalLoss === null || loss < this.state.bestEvalLoss;
    if (improved) {
      this.state.bestEvalLoss = loss;
      this.state.evalsWithoutImprovement = 0;
    } else {
      this.state.evalsWithoutImprovement += 1;
    }
    const stopEarly = this.opts.earlyStopPatience > 0 && this.state.evalsWithoutImprovement >= this.opts.earlyStopPatience;
    if (stopEarly) this.state.stoppedEarly = true;
    return { step: this.state.step, loss, perplexity: Math.exp(loss), tokens, improved, stopEarly };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Mean cross-entropy over the trained tokens of `examples` (batches in length order, no grads). */
export function meanLoss(
  model: CausalLM,
  examples: readonly TokenizedExample[],
  batchSize: number,
  padId: number,
  completionOnly: boolean,
): { loss: number; tokens: number } {
  const order = examples.map((_, i) => i).sort((a, b) => examples[a].ids.length - examples[b].ids.length || a - b);
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < order.length; i += batchSize) {
    const batch = makeBatch(order.slice(i, i + batchSize).map((j) => examples[j]), padId, completionOnly);
    try {
      const s = tf.tidy(() => batchLossSum(model, batch));
      sum += s.dataSync()[0];
      s.dispose();
      tokens += batch.trainedTokens;
    } finally {
      disposeBatch(batch);
    }
  }
  return { loss: sum / Math.max(1, tokens), tokens };
}
