/**
 * One training job inside the trainer process: load the model and data, attach the adapter (new,
 * from an adapter folder, or from a checkpoint), run the steps with events, evaluate, checkpoint,
 * honour pause / resume / cancel between steps, and write the final adapter.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isTemplateChoice, resolveTemplate } from '../datasets/templates';
import { selectBackend } from '../ml/backends';
import { renderChatTemplate } from '../ml/chat-template';
import { generate } from '../ml/generate';
import { loadModelFolder, type LoadedModelFolder } from '../ml/loader';
import { LoraAdapter } from '../ml/lora/adapter';
import { readPeftAdapter, savePeftAdapter } from '../ml/lora/peft';
import { readCheckpoint, saveCheckpoint } from '../ml/train/checkpoint';
import { Rng } from '../ml/train/rng';
import { Trainer, type TrainOptions } from '../ml/train/trainer';
import { loadTrainData } from './data';
import { loraSpecOf } from './spec';
import type { ParentLink, TrainJob, TrainerRequest } from './protocol';

export function trainOptionsOf(job: TrainJob): TrainOptions {
  const c = job.config;
  return {
    lr: c.lr,
    scheduler: c.scheduler,
    warmupSteps: c.warmup,
    weightDecay: c.weightDecay,
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    maxGradNorm: c.maxGradNorm,
    epochs: c.epochs,
    maxSteps: c.maxSteps ?? null,
    batchSize: c.batchSize,
    gradAccum: c.gradAccum,
    completionOnly: c.completionOnly,
    groupByLength: c.groupByLength,
    earlyStopPatience: c.earlyStopPatience,
    seed: c.seed,
  };
}

export function checkpointDir(runDir: string, step: number): string {
  return path.join(runDir, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
}

/** Pause/cancel requests, polled between steps. */
class Control {
  paused = false;
  cancelled = false;
  private wake: (() => void) | null = null;

  handle(req: TrainerRequest): void {
    if (req.type === 'pause') this.paused = true;
    else if (req.type === 'resume') this.paused = false;
    else if (req.type === 'cancel') this.cancelled = true;
    this.wake?.();
  }

  /** Lets queued IPC messages in; then, while paused, waits for resume or cancel. */
  async checkpoint(onPause: () => void, onResume: () => void): Promise<void> {
    await new Promise((r) => setImmediate(r));
    if (!this.paused || this.cancelled) return;
    onPause();
    while (this.paused && !this.cancelled) await new Promise<void>((r) => (this.wake = r));
    this.wake = null;
    if (!this.cancelled) onResume();
  }
}

export async function runJob(job: TrainJob, link: ParentLink): Promise<void> {
  const control = new Control();
  link.onRequest((req) => control.handle(req));
  const c = job.config;
  const backend = await selectBackend(job.backend ?? null);
  const folder: LoadedModelFolder = loadModelFolder(job.modelDir);
  const { model, tokenizer } = folder;
  const data = loadTrainData(job, folder);
  const padId = folder.generationConfig.padTokenId ?? folder.generationConfig.eosTokenIds[0] ?? 0;
  const opts = trainOptionsOf(job);
  const adapterOpts = { baseModel: job.baseModelName, modelType: model.modelType };

  let trainer: Trainer;
  let elapsedBefore = 0;
  let resumedFromStep: number | null = null;
  if (job.resumeFrom) {
    const ckpt = readCheckpoint(job.resumeFrom);
    const adapter = LoraAdapter.attachFactors(model, ckpt.spec, ckpt.factors, ckpt.pissaInitial);
    trainer = new Trainer(model, adapter, data.train, data.eval, opts, padId, { loop: ckpt.state.loop, optimizer: ckpt.optimizer });
    elapsedBefore = Number(ckpt.state.extra.elapsedMs ?? 0);
    resumedFromStep = ckpt.state.loop.step;
  } else {
    let adapter: LoraAdapter;
    if (job.fromAdapterDir) {
      const files = readPeftAdapter(job.fromAdapterDir, model);
      adapter = LoraAdapter.attachFactors(model, { ...files.spec, dropout: c.dropout }, files.factors);
    } else {
      adapter = LoraAdapter.attach(model, loraSpecOf(c, model.modelType), Rng.fromSeed(c.seed, 1));
    }
    trainer = new Trainer(model, adapter, data.train, data.eval, opts, padId);
  }

  link.send({
    type: 'started',
    backend: backend.name,
    totalSteps: trainer.totalSteps,
    trainableParams: trainer.adapter.trainableParams(),
    trainExamples: data.train.length,
    evalExamples: data.eval.length,
    resumedFromStep,
  });

  const started = Date.now();
  let pausedMs = 0;
  let pauseStart = 0;
  const elapsed = () => elapsedBefore + (Date.now() - started - pausedMs);
  let peakRss = 0;
  const save = (): string => {
    const dir = checkpointDir(job.runDir, trainer.step);
    saveCheckpoint(dir, trainer, adapterOpts, { elapsedMs: elapsed(), runId: job.runId });
    link.send({ type: 'checkpoint', step: trainer.step, path: dir });
    return dir;
  };
  // A sample prompt is a user turn rendered with the run's template, as the model was trained.
  const promptIds = (prompt: string): number[] => {
    const choice = job.data.kind === 'dataset' ? (job.data.template ?? 'model') : null;
    if (choice === null || !isTemplateChoice(choice)) return tokenizer.encode(prompt);
    const tpl = resolveTemplate(tokenizer, choice);
    const text = renderChatTemplate(tpl.source, [{ role: 'user', content: prompt }], {
      addGenerationPrompt: true,
      specialTokens: { bos_token: '', eos_token: '', ...tokenizer.templateVariables() },
    });
    return tokenizer.encode(text, { addSpecialTokens: tpl.addSpecialTokens });
  };
  const samples = async () => {
    const prompts = c.samplePrompts;
    for (const prompt of prompts) {
      const ids = promptIds(prompt);
      const out = await generate(model, [ids], {
        maxNewTokens: c.sampleMaxTokens,
        temperature: 0,
        eosTokenIds: folder.generationConfig.eosTokenIds,
        tokenizer,
      });
      const text = out.texts[0] ?? '';
      fs.appendFileSync(path.join(job.runDir, 'samples.jsonl'), JSON.stringify({ step: trainer.step, prompt, text }) + '\n');
      link.send({ type: 'sample', step: trainer.step, prompt, text });
    }
  };
  const evaluate = () => {
    const r = trainer.evaluate();
    if (r) link.send({ type: 'eval', step: r.step, evalLoss: r.loss, perplexity: r.perplexity, improved: r.improved, stopEarly: r.stopEarly });
    return r;
  };

  fs.mkdirSync(job.runDir, { recursive: true });
  let lastEvalStep = -1;
  while (!trainer.done) {
    await control.checkpoint(
      () => {
        pauseStart = Date.now();
        link.send({ type: 'paused', step: trainer.step });
      },
      () => {
        pausedMs += Date.now() - pauseStart;
        link.send({ type: 'resumed', step: trainer.step });
      },
    );
    if (control.cancelled) break;
    const t0 = Date.now();
    const r = trainer.trainStep();
    const stepMs = Math.max(1, Date.now() - t0);
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    const done = resumedFromStep ?? 0;
    const perStep = (elapsed() - elapsedBefore) / Math.max(1, r.step - done);
    link.send({
      type: 'step',
      step: r.step,
      totalSteps: trainer.totalSteps,
      epoch: r.epoch,
      loss: r.loss,
      lr: r.lr,
      gradNorm: r.gradNorm,
      tokensPerSecond: (r.tokens / stepMs) * 1000,
      elapsedMs: elapsed(),
      etaMs: perStep * (trainer.totalSteps - r.step),
      memory: { rssBytes: rss, tensorBytes: tf.memory().numBytes, peakBytes: peakRss },
    });
    if (c.evalEvery > 0 && r.step % c.evalEvery === 0) {
      evaluate();
      lastEvalStep = r.step;
    }
    if (c.checkpointEvery > 0 && r.step % c.checkpointEvery === 0 && !trainer.done) save();
    if (c.sampleEvery > 0 && r.step % c.sampleEvery === 0) await samples();
  }

  if (control.cancelled) {
    if (trainer.step > (resumedFromStep ?? 0)) save();
    link.send({ type: 'done', status: 'cancelled', step: trainer.step, adapterDir: null, stoppedEarly: false });
    return;
  }
  if (lastEvalStep !== trainer.step) evaluate();
  save();
  trainer.adapter.setTraining(null);
  savePeftAdapter(job.adapterDir, trainer.adapter, adapterOpts);
  link.send({ type: 'done', status: 'completed', step: trainer.step, adapterDir: job.adapterDir, stoppedEarly: trainer.loopState().stoppedEarly });
  trainer.dispose();
}
