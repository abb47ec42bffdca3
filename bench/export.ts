/**
 * Merged-export throughput and memory on a 135M-shaped model (SmolLM2-135M: hidden 576, 30
 * layers, 9 heads / 3 KV heads, MLP 1536, vocabulary 49152, BF16 weights, random values) with an
 * r=8 adapter on every projection, written to a temp dir:
 *
 *   - medians of ROUNDS rounds, each a plain copy, the export and an fsynced copy back to back,
 *     taking turns at going first
 *     (single rounds are noisy here: this VM reports freed memory to its host, and a round whose
 *     writes land in such pages spends ~0.5 s of kernel time faulting them back in; it hits the
 *     copy and the export alike, at random):
 *   - plain copy of the same weight file (fs.copyFileSync) in the same run: the page cache's speed
 *     here (the copy is not flushed to the disk);
 *   - merged export (W + s·B·A, streamed tensor by tensor, BF16 out, logits check off): MB/s of
 *     output, ratio to the copy (goal ≥ 0.5×). The export's files are fsynced (atomic writes), so
 *     for context the same copy followed by an fsync is timed too (copyFsyncMBps, ratioToCopyFsync);
 *     the export runs on the native addon's shard writer where it is built (writer: 'native');
 *     for comparison, ROUNDS more rounds of a copy and the export on the writer used without it
 *     (LORA_STUDIO_MERGE_WRITER=libuv: the pipeline on libuv's thread pool, same kernels) follow
 *     (libuvMBps, libuvRatio);
 *   - CPU seconds of the export (user + system, all threads), and the load average: on a shared
 *     machine the ratio mostly measures the others;
 *   - peak resident memory during the merge (sampled as each tensor is written), against the goal
 *     < 2 × the largest tensor (as F32, the form it is merged in) + 300 MB;
 *   - GGUF F16 export of the same, for reference.
 *
 * Run alone:  npx tsx bench/export.ts [--targets q_proj,v_proj] [--json] [--keep]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { newLoraConfigTree, writeAdapterFiles, type LoraModuleWeights } from '../src/main/adapters/peft-files';
import { exportGguf } from '../src/main/export/gguf';
import type { JobContext } from '../src/main/export/job';
import { exportMerged } from '../src/main/export/merged';
import { loadAddon } from '../src/main/ml/native/addon';
import { writeSafetensors, type TensorToWrite } from '../src/main/ml/safetensors';

const SHAPE = { hidden: 576, inter: 1536, layers: 30, heads: 9, kvHeads: 3, vocab: 49152 };

export interface BenchExportResult {
  targets: string[];
  /** 1-minute load average and cores: on a shared machine the ratio mostly measures the others. */
  load: number;
  cores: number;
  modelMB: number;
  largestTensorMB: number;
  copyMBps: number;
  /** The same copy, then fsync: what the export's durability costs a plain copy. */
  copyFsyncMBps: number;
  mergedMBps: number;
  /** Which shard writer the export used: the addon's ('native') or libuv's. */
  writer: 'native' | 'libuv';
  /** The same export on the libuv writer (null when that is the one measured already), and its
   * ratio to the copy, from rounds of their own after the others. */
  libuvMBps: number | null;
  libuvRatio: number | null;
  /** Median merged MB/s over median copy MB/s. */
  ratio: number;
  rounds: number;
  /** The ratio's lowest and highest round. */
  ratioRange: [number, number];
  ratioToCopyFsync: number;
  mergedSeconds: number;
  ggufF16MBps: number;
  cpuSeconds: number;
  baseRssMB: number;
  peakRssMB: number;
  rssGoalMB: number;
  goalThroughputMet: boolean;
  goalMemoryMet: boolean;
}

function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function fill(n: number, seed: number, scale: number): Float32Array {
  const r = rand(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
}

function linears(): { name: string; out: number; in: number }[] {
  const { hidden: h, inter, heads, kvHeads } = SHAPE;
  const kv = (h / heads) * kvHeads;
  const list: { name: string; out: number; in: number }[] = [];
  for (let l = 0; l < SHAPE.layers; l++) {
    const p = `model.layers.${l}`;
    list.push(
      { name: `${p}.self_attn.q_proj`, out: h, in: h },
      { name: `${p}.self_attn.k_proj`, out: kv, in: h },
      { name: `${p}.self_attn.v_proj`, out: kv, in: h },
      { name: `${p}.self_attn.o_proj`, out: h, in: h },
      { name: `${p}.mlp.gate_proj`, out: inter, in: h },
      { name: `${p}.mlp.up_proj`, out: inter, in: h },
      { name: `${p}.mlp.down_proj`, out: h, in: inter },
    );
  }
  return list;
}

/** A SmolLM2-135M-shaped model folder with random BF16 weights (streamed: one tensor at a time). */
function writeModel(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const { hidden: h, vocab } = SHAPE;
  const tensors: TensorToWrite[] = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [vocab, h], data: () => fill(vocab * h, 1, 0.04) }];
  let seed = 2;
  for (let l = 0; l < SHAPE.layers; l++) {
    tensors.push({ name: `model.layers.${l}.input_layernorm.weight`, dtype: 'BF16', shape: [h], data: () => new Float32Array(h).fill(1) });
    tensors.push({ name: `model.layers.${l}.post_attention_layernorm.weight`, dtype: 'BF16', shape: [h], data: () => new Float32Array(h).fill(1) });
  }
  for (const m of linears()) {
    const s = seed++;
    tensors.push({ name: `${m.name}.weight`, dtype: 'BF16', shape: [m.out, m.in], data: () => fill(m.out * m.in, s, 0.04) });
  }
  tensors.push({ name: 'model.norm.weight', dtype: 'BF16', shape: [h], data: () => new Float32Array(h).fill(1) });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: h,
    intermediate_size: SHAPE.inter,
    num_hidden_layers: SHAPE.layers,
    num_attention_heads: SHAPE.heads,
    num_key_value_heads: SHAPE.kvHeads,
    vocab_size: vocab,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  // A tokenizer for the GGUF export: the Llama-2 one of the test fixtures (padded to the vocabulary).
  const tok = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../shared/fixtures/models/tiny-random-llama');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    if (fs.existsSync(path.join(tok, f))) fs.copyFileSync(path.join(tok, f), path.join(dir, f));
  }
}

const ALL_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function writeAdapter(dir: string, targets: string[]): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = 8;
  const modules: LoraModuleWeights[] = linears().filter((m) => targets.some((t) => m.name.endsWith(`.${t}`))).map((m, i) => ({ name: m.name, r, alpha: 16, inFeatures: m.in, outFeatures: m.out, a: fill(r * m.in, 1000 + i, 0.1), b: fill(m.out * r, 5000 + i, 0.01) }));
  const tree = newLoraConfigTree({ baseModel: 'HuggingFaceTB/SmolLM2-135M', r, alpha: 16, dropout: 0.05, targets, layers: null, rslora: false, fanInFanOut: false });
  writeAdapterFiles(dir, tree, modules);
}

const MB = 2 ** 20;
const ROUNDS = 11;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function benchExport(opts: { keep?: boolean; targets?: string[] } = {}): Promise<BenchExportResult> {
  const targets = opts.targets ?? ALL_TARGETS;
  const keep = opts.keep ?? false;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-studio-bench-export-'));
  try {
    const modelDir = path.join(root, 'model');
    const adapterDir = path.join(root, 'adapter');
    writeModel(modelDir);
    writeAdapter(adapterDir, targets);
    const weights = path.join(modelDir, 'model.safetensors');
    const modelBytes = fs.statSync(weights).size;
    const largestF32 = SHAPE.vocab * SHAPE.hidden * 4;

    // The copy first warms the page cache like the export's read. Then ROUNDS rounds, each timing
    // a plain copy, the merged export and the copy followed by fsync (the export's files are
    // fsynced), back to back; the medians are reported: one ~0.1 s copy is too noisy to judge by.
    fs.copyFileSync(weights, path.join(root, 'warm.safetensors'));
    fs.rmSync(path.join(root, 'warm.safetensors'));
    const seconds = () => {
      const t0 = process.hrtime.bigint();
      return () => Number(process.hrtime.bigint() - t0) / 1e9;
    };

    global.gc?.();
    // memoryUsage.rss() reads only the resident size; memoryUsage() also walks the JS heap, which,
    // called on every progress event, cost the timed export ~10 ms.
    const baseRss = process.memoryUsage.rss();
    let peakRss = baseRss;
    const ctx: JobContext = {
      checkCancelled() {},
      progress() {
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      },
    };
    const writer = loadAddon().ok && typeof (loadAddon() as { addon: { mergeFile?: unknown } }).addon.mergeFile === 'function' ? 'native' : 'libuv';
    const exportOnce = (out: string) =>
      exportMerged({ adapterDir, baseDir: modelDir, outDir: out, dtype: 'bf16', chatTemplate: null, adapterName: 'bench', baseModelName: 'bench', verify: false }, ctx);
    const copyTimes: number[] = [];
    const mergedTimes: number[] = [];
    const libuvTimes: number[] = [];
    const fsyncTimes: number[] = [];
    const ratios: number[] = [];
    let cpuSeconds = 0;
    let mergedBytes = 0;
    const timedCopy = () => {
      const done = seconds();
      fs.copyFileSync(weights, path.join(root, 'copy.safetensors'));
      copyTimes.push(done());
      fs.rmSync(path.join(root, 'copy.safetensors'));
    };
    const timedExport = async () => {
      const out = path.join(root, 'merged');
      const done = seconds();
      const cpu0 = process.cpuUsage();
      const merged = await exportOnce(out);
      mergedTimes.push(done());
      const cpu = process.cpuUsage(cpu0);
      cpuSeconds += (cpu.user + cpu.system) / 1e6 / ROUNDS;
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      mergedBytes = merged.files.filter((f) => f.name.endsWith('.safetensors')).reduce((n, f) => n + f.bytes, 0);
      fs.rmSync(out, { recursive: true, force: true });
    };
    const timedCopyFsync = () => {
      const done = seconds();
      fs.copyFileSync(weights, path.join(root, 'copy-fsync.safetensors'));
      const fd = fs.openSync(path.join(root, 'copy-fsync.safetensors'), 'r+');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fsyncTimes.push(done());
      fs.rmSync(path.join(root, 'copy-fsync.safetensors'));
    };
    // The three take turns at going first, so no one always follows the same one.
    const steps = [timedCopy, timedExport, timedCopyFsync];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < steps.length; i++) await steps[(round + i) % steps.length]();
      ratios.push((copyTimes[round] / mergedTimes[round]) * (mergedBytes / modelBytes));
    }
    // Then, apart (not to disturb the rounds above), the libuv writer: a copy and that export.
    const libuvCopyTimes: number[] = [];
    if (writer === 'native') {
      for (let round = 0; round < ROUNDS; round++) {
        let done = seconds();
        fs.copyFileSync(weights, path.join(root, 'copy.safetensors'));
        libuvCopyTimes.push(done());
        fs.rmSync(path.join(root, 'copy.safetensors'));
        const out = path.join(root, 'merged');
        process.env.LORA_STUDIO_MERGE_WRITER = 'libuv';
        try {
          done = seconds();
          await exportOnce(out);
          libuvTimes.push(done());
        } finally {
          delete process.env.LORA_STUDIO_MERGE_WRITER;
        }
        fs.rmSync(out, { recursive: true, force: true });
      }
    }
    const copySeconds = median(copyTimes);
    const mergedSeconds = median(mergedTimes);
    const copyFsyncSeconds = median(fsyncTimes);

    const ggufDone = seconds();
    const g = await exportGguf({ adapterDir, baseDir: modelDir, outFile: path.join(root, 'gguf', 'model.gguf'), type: 'f16', modelfile: false, chatTemplate: null, name: 'bench' }, { checkCancelled() {}, progress() {} }).catch((err: unknown) => {
      // no tokenizer in the synthetic folder: GGUF needs one, so time only what can run
      return { bytes: 0, error: String(err) };
    });
    const ggufSeconds = ggufDone();

    const copyMBps = modelBytes / MB / copySeconds;
    const copyFsyncMBps = modelBytes / MB / copyFsyncSeconds;
    const mergedMBps = mergedBytes / MB / mergedSeconds;
    const rssGoalMB = (2 * largestF32) / MB + 300;
    return {
      targets,
      load: os.loadavg()[0],
      cores: os.cpus().length,
      modelMB: modelBytes / MB,
      largestTensorMB: largestF32 / MB,
      copyMBps,
      copyFsyncMBps,
      mergedMBps,
      writer,
      libuvMBps: libuvTimes.length ? mergedBytes / MB / median(libuvTimes) : null,
      libuvRatio: libuvTimes.length ? (median(libuvCopyTimes) / median(libuvTimes)) * (mergedBytes / modelBytes) : null,
      ratio: mergedMBps / copyMBps,
      rounds: ROUNDS,
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      ratioToCopyFsync: mergedMBps / copyFsyncMBps,
      mergedSeconds,
      ggufF16MBps: 'error' in g ? 0 : g.bytes / MB / ggufSeconds,
      cpuSeconds,
      baseRssMB: baseRss / MB,
      peakRssMB: peakRss / MB,
      rssGoalMB,
      goalThroughputMet: mergedMBps / copyMBps >= 0.5,
      goalMemoryMet: peakRss / MB < rssGoalMB,
    };
  } finally {
    if (!keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const json = process.argv.includes('--json');
  const ti = process.argv.indexOf('--targets');
  const r = await benchExport({ keep: process.argv.includes('--keep'), targets: ti > 0 ? process.argv[ti + 1].split(',') : undefined });
  if (json) console.log(JSON.stringify(r));
  else {
    console.log(`model ${r.modelMB.toFixed(0)} MB (BF16); largest tensor ${r.largestTensorMB.toFixed(0)} MB as F32; adapter r=8 on ${r.targets.join(', ')}`);
    console.log(`machine: ${r.cores} cores, load average ${r.load.toFixed(1)}`);
    console.log(`plain copy      ${r.copyMBps.toFixed(0)} MB/s (with fsync, like the export: ${r.copyFsyncMBps.toFixed(0)} MB/s)`);
    console.log(`merged export   ${r.mergedMBps.toFixed(0)} MB/s (${r.writer} writer; ${r.mergedSeconds.toFixed(2)} s, ${r.cpuSeconds.toFixed(2)} s CPU) = ${r.ratio.toFixed(2)}× the copy (medians of ${r.rounds} rounds; rounds ${r.ratioRange[0].toFixed(2)}–${r.ratioRange[1].toFixed(2)}×; goal ≥ 0.5×) ${r.goalThroughputMet ? 'met' : 'NOT met'}; ${r.ratioToCopyFsync.toFixed(2)}× the fsynced copy`);
    if (r.libuvMBps && r.libuvRatio) console.log(`  same export on the libuv writer: ${r.libuvMBps.toFixed(0)} MB/s (${r.libuvRatio.toFixed(2)}× the copy, rounds of its own)`);
    console.log(`GGUF F16 export ${r.ggufF16MBps ? `${r.ggufF16MBps.toFixed(0)} MB/s` : 'skipped (no tokenizer in the synthetic model)'}`);
    console.log(`peak RSS        ${r.peakRssMB.toFixed(0)} MB (before: ${r.baseRssMB.toFixed(0)} MB; goal < ${r.rssGoalMB.toFixed(0)} MB) ${r.goalMemoryMet ? 'met' : 'NOT met'}`);
  }
}
