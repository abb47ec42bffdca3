/**
 * Generation speed of the engine's Llama model (src/main/ml/models/llama.ts, through generate())
 * on a SmolLM2-135M-shaped model with random weights built in memory (no files): prefill
 * tokens/s (the prompt's forward) and decode tokens/s (one token per step through the KV cache),
 * greedy, batch 1, per available backend. bench/torch_generate.py is the same in PyTorch.
 *
 * Run alone:  npx tsx bench/generate.ts [--quick] [--backend wasm,cpu] [--prompt N] [--new N] [--json]
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { probeBackends, selectBackend } from '../src/main/ml/backends';
import { generate } from '../src/main/ml/generate';
import { LlamaModel, type LlamaArgs } from '../src/main/ml/models/llama';
import { ops, setOps } from '../src/main/ml/ops';

/** SmolLM2-135M (HuggingFaceTB/SmolLM2-135M config.json). */
export const SMOLLM2_135M_ARGS: LlamaArgs = {
  modelType: 'llama',
  vocabSize: 49152,
  hiddenSize: 576,
  intermediateSize: 1536,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  headDim: 64,
  rmsNormEps: 1e-5,
  ropeTheta: 100000,
  ropeScaling: { kind: 'default' },
  maxPositions: 8192,
  tieWordEmbeddings: true,
  qkvBias: false,
  oBias: false,
  mlpBias: false,
  slidingWindow: null,
};

export interface BenchGenerateOptions {
  /** Backends to run (default: every available one). */
  backends?: string[];
  /** 4 layers, 32 prompt tokens, 16 new tokens. */
  quick?: boolean;
  layers?: number;
  promptTokens?: number;
  newTokens?: number;
  log?: (line: string) => void;
}

export interface BenchGenerateRow {
  backend: string;
  layers: number;
  /** Parameters of the benchmarked model. */
  params: number;
  promptTokens: number;
  newTokens: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  /** Building the random weights, ms. */
  buildMs: number;
}

/** Random weights (std 0.02, norms 1), one tensor at a time, on the active backend. */
function randomModel(args: LlamaArgs, seed: number): LlamaModel {
  const model = new LlamaModel(args);
  model.weights.all().forEach((w, i) => {
    w.assign(w.shape.length === 1 ? tf.ones([...w.shape]) : tf.randomNormal([...w.shape], 0, 0.02, 'float32', seed + i));
  });
  return model;
}

export async function benchGenerate(opts: BenchGenerateOptions = {}): Promise<BenchGenerateRow[]> {
  const log = opts.log ?? (() => {});
  const layers = opts.layers ?? (opts.quick ? 4 : SMOLLM2_135M_ARGS.numLayers);
  const promptTokens = opts.promptTokens ?? (opts.quick ? 32 : 128);
  const newTokens = opts.newTokens ?? (opts.quick ? 16 : 32);
  const args = { ...SMOLLM2_135M_ARGS, numLayers: layers };
  const available = (await probeBackends()).filter((b) => b.available).map((b) => b.name);
  const backends = opts.backends ?? available;
  const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % args.vocabSize);
  const rows: BenchGenerateRow[] = [];
  const [prevBackend, prevOps] = [tf.getBackend() as string | undefined, ops()];

  try {
    for (const backend of backends) rows.push(await benchOne(backend, args, prompt, newTokens, log));
  } finally {
    if (prevBackend) await tf.setBackend(prevBackend); // none before the first tensor was made
    setOps(prevOps);
  }
  return rows;
}

async function benchOne(backend: string, args: LlamaArgs, prompt: number[], newTokens: number, log: (line: string) => void): Promise<BenchGenerateRow> {
  await selectBackend(backend);
  const t0 = performance.now();
  const model = randomModel(args, 1);
  const buildMs = performance.now() - t0;
  try {
    await generate(model, [prompt.slice(0, 8)], { maxNewTokens: 2 }); // warm-up: kernels, wasm pages
    const res = await generate(model, [prompt], { maxNewTokens: newTokens });
    const row: BenchGenerateRow = {
      backend,
      layers: args.numLayers,
      params: model.weights.numParams(),
      promptTokens: prompt.length,
      newTokens: res.tokens[0].length,
      prefillTokensPerSec: prompt.length / (res.prefillMs / 1000),
      decodeTokensPerSec: res.decodeSteps / (res.decodeMs / 1000),
      buildMs,
    };
    log(`${backend}: prefill ${row.prefillTokensPerSec.toFixed(1)} tok/s, decode ${row.decodeTokensPerSec.toFixed(2)} tok/s`);
    return row;
  } finally {
    model.dispose();
  }
}

export function formatTable(rows: BenchGenerateRow[]): string {
  const head = '| backend | layers | params | prompt | new | prefill tok/s | decode tok/s |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    (r) =>
      `| ${r.backend} | ${r.layers} | ${(r.params / 1e6).toFixed(1)}M | ${r.promptTokens} | ${r.newTokens} | ${r.prefillTokensPerSec.toFixed(1)} | ${r.decodeTokensPerSec.toFixed(2)} |`,
  );
  return [head, sep, ...lines].join('\n');
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.split('=')[1];
}

async function main(argv: string[]): Promise<void> {
  const num = (name: string) => (argValue(argv, name) === undefined ? undefined : Number(argValue(argv, name)));
  const rows = await benchGenerate({
    quick: argv.includes('--quick'),
    backends: argValue(argv, '--backend')?.split(','),
    layers: num('--layers'),
    promptTokens: num('--prompt'),
    newTokens: num('--new'),
    log: (l) => console.error(l),
  });
  console.log(argv.includes('--json') ? JSON.stringify(rows) : formatTable(rows));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
