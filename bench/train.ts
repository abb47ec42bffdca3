/**
 * Memory estimate vs measured peak, and step speed, of LoRA training steps.
 *
 *   node --import tsx bench/train.ts [--backend cpu] [--steps 3]
 *
 * For each workload: the estimate `runs.estimate` shows before a run (src/main/ml/train/memory.ts)
 * against the peak of tfjs-tracked bytes during a training step (tf.profile's peakBytes, which
 * includes the model's weights, the adapter and the optimizer moments), and tokens/s.
 * Workloads: tiny-random-llama (real fixture), random Llamas of growing width written to a temp
 * folder, and the starter model when resources/starter-model exists.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/main/ml/backends';
import { loadModel } from '../src/main/ml/loader';
import { LoraAdapter } from '../src/main/ml/lora/adapter';
import { estimateTrainingMemory, trainingOpsOf } from '../src/main/ml/train/memory';
import { Rng } from '../src/main/ml/train/rng';
import { Trainer } from '../src/main/ml/train/trainer';
import { writeSafetensors, type TensorToWrite } from '../src/main/ml/safetensors';
import { appRoot } from '../src/main/storage/paths';

const { values } = parseArgs({ options: { backend: { type: 'string' }, steps: { type: 'string' } } });

function randomLlama(dir: string, d: { V: number; D: number; F: number; L: number; H: number }): string {
  const rng = Rng.fromSeed(1);
  const t = (name: string, shape: number[], std: number): TensorToWrite => ({
    name,
    dtype: 'F32',
    shape,
    data: () => rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), std === 0 ? 1 : 0, std),
  });
  const tensors = [t('model.embed_tokens.weight', [d.V, d.D], 0.02), t('model.norm.weight', [d.D], 0), t('lm_head.weight', [d.V, d.D], 0.02)];
  for (let i = 0; i < d.L; i++) {
    const p = `model.layers.${i}`;
    tensors.push(t(`${p}.input_layernorm.weight`, [d.D], 0), t(`${p}.post_attention_layernorm.weight`, [d.D], 0));
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) tensors.push(t(`${p}.self_attn.${m}.weight`, [d.D, d.D], 0.02));
    tensors.push(t(`${p}.mlp.gate_proj.weight`, [d.F, d.D], 0.02), t(`${p}.mlp.up_proj.weight`, [d.F, d.D], 0.02), t(`${p}.mlp.down_proj.weight`, [d.D, d.F], 0.02));
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ model_type: 'llama', vocab_size: d.V, hidden_size: d.D, intermediate_size: d.F, num_hidden_layers: d.L, num_attention_heads: d.H, num_key_value_heads: d.H, max_position_embeddings: 2048, rms_norm_eps: 1e-6, tie_word_embeddings: false }),
  );
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return dir;
}

interface Workload {
  name: string;
  dir: string;
  batch: number;
  seqLen: number;
  rank: number;
  targets: string[];
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-train-'));
const workloads: Workload[] = [
  { name: 'tiny-random-llama', dir: path.resolve(appRoot(), '../shared/fixtures/models/tiny-random-llama'), batch: 4, seqLen: 64, rank: 8, targets: ['q_proj', 'v_proj'] },
  { name: 'llama D=128 L=4 V=4096', dir: randomLlama(path.join(tmp, 'a'), { V: 4096, D: 128, F: 512, L: 4, H: 4 }), batch: 8, seqLen: 64, rank: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
  { name: 'llama D=256 L=4 V=8192', dir: randomLlama(path.join(tmp, 'b'), { V: 8192, D: 256, F: 768, L: 4, H: 8 }), batch: 4, seqLen: 128, rank: 16, targets: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] },
];
const starter = path.join(appRoot(), 'resources', 'starter-model');
if (fs.existsSync(path.join(starter, 'config.json'))) workloads.push({ name: 'starter model', dir: starter, batch: 16, seqLen: 64, rank: 8, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });

const backend = await selectBackend(values.backend ?? null);
const steps = Number(values.steps ?? 3);
console.log(`backend ${backend.name}\n`);
console.log('| workload | batch × seq | rank | trainable | estimate MiB | measured peak MiB | est/measured | tokens/s |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const w of workloads) {
  const { model } = loadModel(w.dir);
  const adapter = LoraAdapter.attach(model, { r: w.rank, alpha: 2 * w.rank, dropout: 0.05, rslora: false, targets: w.targets, layers: null, rankPattern: {}, alphaPattern: {}, init: 'default' }, Rng.fromSeed(1));
  const rng = Rng.fromSeed(2);
  const V = model.dims.vocabSize;
  const data = Array.from({ length: w.batch * (steps + 1) }, () => {
    const ids = Array.from({ length: w.seqLen }, () => rng.int(V));
    return { ids, trainMask: ids.map((_, i) => (i >= w.seqLen / 4 ? 1 : 0)) };
  });
  const trainer = new Trainer(model, adapter, data, [], { lr: 1e-4, scheduler: 'constant', warmupSteps: 0, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, epochs: 1, maxSteps: steps + 1, batchSize: w.batch, gradAccum: 1, completionOnly: true, groupByLength: true, earlyStopPatience: 0, seed: 1 }, 0);
  trainer.trainStep(); // warm-up (allocates the optimizer moments)
  let peak = 0;
  const t0 = Date.now();
  let tokens = 0;
  for (let i = 0; i < steps; i++) {
    const info = await tf.profile(() => {
      tokens += trainer.trainStep().tokens;
    });
    peak = Math.max(peak, info.peakBytes);
  }
  const tokPerS = tokens / ((Date.now() - t0) / 1000);
  const est = estimateTrainingMemory(model.dims, model.weights.numParams(), adapter.trainableParams(), w.batch, w.seqLen, { ops: trainingOpsOf(backend.name) });
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`| ${w.name} | ${w.batch} × ${w.seqLen} | ${w.rank} | ${adapter.trainableParams()} | ${mib(est.totalBytes)} | ${mib(peak)} | ${(est.totalBytes / peak).toFixed(2)} | ${tokPerS.toFixed(0)} |`);
  trainer.dispose();
  adapter.detach();
  model.dispose();
}
fs.rmSync(tmp, { recursive: true, force: true });
