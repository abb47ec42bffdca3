/**
 * The training speed in real use: `lora-studio train` (the CLI, the runs service, the trainer in
 * its own process, the dataset read from the app database) on a checkpoint folder of the
 * benchmark's shapes — SmolLM2-135M (hidden 576, 30 layers, 9 heads / 3 KV heads, MLP 1536,
 * vocabulary 49152), random BF16 weights, tied embeddings — written in Hugging Face format,
 * added to a fresh library and trained with r=8 on q,k,v,o, batch 4 × 256 tokens, as
 * bench/lora_step.ts measures the step alone. Reports the trainer's own tokens/s (steps after
 * the first), wall time of the whole command, and the trainer process's peak RSS.
 *
 * Run alone:  npx tsx bench/cli_train.ts [--steps N] [--backend native] [--quick] [--json]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../src/main/ml/train/rng';
import { writeSafetensors, type TensorToWrite } from '../src/main/ml/safetensors';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKENIZER_FROM = path.resolve(root, '../shared/fixtures/models/tiny-random-llama');

interface Shape {
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
}
const SMOLLM2_135M: Shape = { hidden: 576, inter: 1536, layers: 30, heads: 9, kvHeads: 3, vocab: 49152 };
const QUICK: Shape = { hidden: 576, inter: 1536, layers: 2, heads: 9, kvHeads: 3, vocab: 32000 };

export interface BenchCliTrainResult {
  backend: string;
  steps: number;
  batch: number;
  seqLen: number;
  /** Mean of the trainer's tokens/s over the steps after the first. */
  tokensPerSecond: number;
  secondsPerStep: number;
  /** The whole `lora-studio train` command: process start, model load, steps, adapter written. */
  commandSeconds: number;
  /** Peak of the trainer process's RSS reported with each step. */
  peakRssMiB: number;
  firstLoss: number;
  lastLoss: number;
}

/** A Llama folder of `s`'s shapes, BF16, written tensor by tensor; the Llama-2 tokenizer of the fixtures. */
function writeCheckpoint(dir: string, s: Shape): void {
  fs.mkdirSync(dir, { recursive: true });
  const rng = Rng.fromSeed(7);
  const headDim = s.hidden / s.heads;
  const t = (name: string, shape: number[], std: number): TensorToWrite => ({
    name,
    dtype: 'BF16',
    shape,
    data: () => rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), std === 0 ? 1 : 0, std),
  });
  const tensors: TensorToWrite[] = [t('model.embed_tokens.weight', [s.vocab, s.hidden], 0.02)];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      t(`${p}.input_layernorm.weight`, [s.hidden], 0),
      t(`${p}.post_attention_layernorm.weight`, [s.hidden], 0),
      t(`${p}.self_attn.q_proj.weight`, [s.hidden, s.hidden], 0.02),
      t(`${p}.self_attn.k_proj.weight`, [s.kvHeads * headDim, s.hidden], 0.02),
      t(`${p}.self_attn.v_proj.weight`, [s.kvHeads * headDim, s.hidden], 0.02),
      t(`${p}.self_attn.o_proj.weight`, [s.hidden, s.hidden], 0.02),
      t(`${p}.mlp.gate_proj.weight`, [s.inter, s.hidden], 0.02),
      t(`${p}.mlp.up_proj.weight`, [s.inter, s.hidden], 0.02),
      t(`${p}.mlp.down_proj.weight`, [s.hidden, s.inter], 0.02),
    );
  }
  tensors.push(t('model.norm.weight', [s.hidden], 0));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.inter,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    vocab_size: s.vocab,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    if (fs.existsSync(path.join(TOKENIZER_FROM, f))) fs.copyFileSync(path.join(TOKENIZER_FROM, f), path.join(dir, f));
  }
}

/** Plain-text rows long enough that every example fills the 256-token window. */
function writeDataset(file: string, rows: number): void {
  const words = ['the', 'adapter', 'learns', 'a', 'small', 'change', 'to', 'each', 'weight', 'matrix', 'while', 'base', 'model', 'stays', 'frozen', 'and', 'rank', 'sets', 'its', 'size'];
  const rng = Rng.fromSeed(3);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const text = Array.from({ length: 400 }, () => words[rng.int(words.length)]).join(' ');
    lines.push(JSON.stringify({ text }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

function cli(dataDir: string, args: string[], onLine?: (line: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bin', 'lora-studio.js'), '--data-dir', dataDir, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) onLine?.(l);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export async function benchCliTrain(opts: { steps?: number; backend?: string; quick?: boolean } = {}): Promise<BenchCliTrainResult> {
  const steps = opts.steps ?? 4;
  const backend = opts.backend ?? 'native';
  const shape = opts.quick ? QUICK : SMOLLM2_135M;
  const batch = opts.quick ? 2 : 4;
  const seqLen = opts.quick ? 128 : 256;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-studio-bench-cli-'));
  try {
    const modelDir = path.join(tmp, 'smollm2-135m-shaped');
    const dataDir = path.join(tmp, 'data');
    writeCheckpoint(modelDir, shape);
    const dataset = path.join(tmp, 'text.jsonl');
    writeDataset(dataset, batch * (steps + 2));
    const add = await cli(dataDir, ['models', 'add', modelDir, '--json']);
    if (add.code !== 0) throw new Error(`models add failed: ${add.stderr.trim()}`);
    const modelId = (JSON.parse(add.stdout.trim().split('\n').pop()!) as { id: number }).id;
    const imp = await cli(dataDir, ['datasets', 'import', dataset, '--json']);
    if (imp.code !== 0) throw new Error(`datasets import failed: ${imp.stderr.trim()}`);
    const datasetId = (JSON.parse(imp.stdout.trim().split('\n').pop()!) as { id: number }).id;

    const steps_: { step: number; loss: number; tokensPerSecond: number; rss: number; elapsedMs: number }[] = [];
    const t0 = Date.now();
    // Global options go before the command; train's flags after it.
    const train = await cli(
      dataDir,
      ['train', '--model', String(modelId), '--dataset', String(datasetId), '--targets', 'q_proj,k_proj,v_proj,o_proj', '--rank', '8', '--alpha', '16', '--dropout', '0', '--batch-size', String(batch), '--seq-len', String(seqLen), '--max-steps', String(steps), '--eval-split', '0', '--checkpoint-every', String(steps), '--backend', backend, '--json'],
      (line) => {
        if (!line.startsWith('{')) return;
        const ev = JSON.parse(line) as { event?: string; step?: number; loss?: number; tokensPerSecond?: number; elapsedMs?: number; memory?: { rssBytes: number } };
        if (ev.event === 'runs.step' && ev.step !== undefined) steps_.push({ step: ev.step, loss: ev.loss ?? NaN, tokensPerSecond: ev.tokensPerSecond ?? NaN, rss: ev.memory?.rssBytes ?? 0, elapsedMs: ev.elapsedMs ?? 0 });
      },
    );
    const commandSeconds = (Date.now() - t0) / 1000;
    if (train.code !== 0) throw new Error(`train failed: ${train.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    if (steps_.length < 2) throw new Error(`train printed ${steps_.length} step events; expected ${steps}`);
    // Steps after the first (which also pays for first-use allocation), from the trainer's clock.
    const later = steps_.slice(1);
    const secondsPerStep = (later[later.length - 1].elapsedMs - steps_[0].elapsedMs) / 1000 / later.length;
    return {
      backend,
      steps: steps_.length,
      batch,
      seqLen,
      tokensPerSecond: (batch * seqLen) / secondsPerStep,
      secondsPerStep,
      commandSeconds,
      peakRssMiB: Math.max(...steps_.map((s) => s.rss)) / 2 ** 20,
      firstLoss: steps_[0].loss,
      lastLoss: steps_[steps_.length - 1].loss,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { steps: { type: 'string' }, backend: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'boolean' } } });
  const r = await benchCliTrain({ steps: values.steps ? Number(values.steps) : undefined, backend: values.backend, quick: values.quick });
  process.stdout.write(values.json ? JSON.stringify(r) + '\n' : `${r.tokensPerSecond.toFixed(1)} tokens/s, ${r.secondsPerStep.toFixed(2)} s/step, peak RSS ${r.peakRssMiB.toFixed(0)} MiB, command ${r.commandSeconds.toFixed(1)} s\n`);
}
