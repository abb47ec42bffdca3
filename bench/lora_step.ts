/**
 * One LoRA training step of a Llama-shaped model, written directly in tfjs, timed on a given
 * backend: forward, cross-entropy, tf.variableGrads on the LoRA A/B matrices only, AdamW.
 *
 * It mirrors src/main/ml/models/llama.ts (weights in nn.Linear [out, in] layout, the same Ops
 * calls), but is self-contained so that the benchmark does not move when the model code does.
 * bench/torch_lora_step.py is the same step in PyTorch. Random weights (std 0.02), LoRA on
 * q, k, v, o with PEFT's init (A Kaiming-uniform, B zero), fixed random tokens.
 *
 * Run alone:  npx tsx bench/lora_step.ts [--quick] [--backend native|cpu|wasm] [--ops composite|fused|native]
 *             [--no-fused-lora] [--steps N] [--layers N] [--profile] [--cpu-profile FILE]
 * With --ops native or fused the LoRA projections use the Ops' loraLinear (one fused op) unless
 * --no-fused-lora. On wasm, `fused` is what the app installs (src/main/ml/backends.ts).
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { additiveAttentionMask } from '../src/main/ml/ops/mask';
import { compositeOps } from '../src/main/ml/ops/composite';
import type { Ops } from '../src/main/ml/ops/types';

export interface LoraStepShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  batch: number;
  seq: number;
  rank: number;
  alpha: number;
  ropeTheta: number;
  rmsEps: number;
}

/** SmolLM2-135M's shapes, batch 4 × 256 tokens, r = 8 on q, k, v, o (issue 5's workload). */
export const SMOLLM2_135M: LoraStepShape = {
  hidden: 576, layers: 30, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152,
  batch: 4, seq: 256, rank: 8, alpha: 16, ropeTheta: 100000, rmsEps: 1e-5,
};

/** The --quick variant: same widths, 2 layers, 8k vocabulary, 2 × 128 tokens. */
export const QUICK: LoraStepShape = { ...SMOLLM2_135M, layers: 2, vocab: 8192, batch: 2, seq: 128 };

export interface LoraStepResult {
  backend: string;
  ops: string;
  shape: LoraStepShape;
  steps: number;
  secondsPerStep: number;
  tokensPerSecond: number;
  /** Peak resident set size of this process so far (MiB). */
  peakRssMiB: number;
  /** CPU time of this process per step, all threads (s): steadier than wall time on a busy machine. */
  cpuSecondsPerStep: number;
  firstLoss: number;
  lastLoss: number;
  /**
   * When profiled: wall and CPU time over the timed steps per tfjs kernel ('kernel X', exclusive)
   * and per native addon call ('native f', also counted inside the kernel that made it), ms.
   */
  profile?: { name: string; calls: number; ms: number; cpuMs: number }[];
  /** Wall time outside tfjs kernels (fused ops, tfjs bookkeeping, JS glue), when profiled (ms). */
  profileOtherMs?: number;
  /** Garbage-collector pauses during the timed steps, when profiled (ms). */
  profileGcMs?: number;
}

interface LoraPair {
  a: Variable; // [r, in]
  b: Variable; // [out, r]
}

interface Layer {
  inputNorm: Tensor;
  postNorm: Tensor;
  q: Tensor; k: Tensor; v: Tensor; o: Tensor; // [out, in]
  gate: Tensor; up: Tensor; down: Tensor;
  lora: { q: LoraPair; k: LoraPair; v: LoraPair; o: LoraPair };
}

interface Model {
  embed: Tensor; // [V, D], tied with the LM head as in SmolLM2
  finalNorm: Tensor;
  layers: Layer[];
}

/** Seeded uniform values with standard deviation `std` (xorshift32; tf.randomNormal is ~100× slower in JS). */
function randomWeights(shape: number[], std: number, seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const half = std * Math.sqrt(3); // U(-a, a) has std a/√3
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 2147483648 - 1) * half;
  }
  return tf.tensor(out, shape, 'float32');
}

function buildModel(s: LoraStepShape, seed: number): Model {
  let n = seed;
  const w = (shape: number[]) => randomWeights(shape, 0.02, n++);
  const hd = s.hidden / s.heads;
  const pair = (inF: number, outF: number): LoraPair => {
    const bound = 1 / Math.sqrt(inF); // kaiming_uniform(a=√5) on [r, in], as PEFT
    // tidy frees the initial values; the variables (never tracked by tidy) stay.
    return tf.tidy(() => ({
      a: tf.variable(tf.randomUniform([s.rank, inF], -bound, bound, 'float32', n++)),
      b: tf.variable(tf.zeros([outF, s.rank])),
    }));
  };
  const layers: Layer[] = [];
  for (let i = 0; i < s.layers; i++) {
    layers.push({
      inputNorm: tf.ones([s.hidden]),
      postNorm: tf.ones([s.hidden]),
      q: w([s.heads * hd, s.hidden]),
      k: w([s.kvHeads * hd, s.hidden]),
      v: w([s.kvHeads * hd, s.hidden]),
      o: w([s.hidden, s.heads * hd]),
      gate: w([s.intermediate, s.hidden]),
      up: w([s.intermediate, s.hidden]),
      down: w([s.hidden, s.intermediate]),
      lora: {
        q: pair(s.hidden, s.heads * hd),
        k: pair(s.hidden, s.kvHeads * hd),
        v: pair(s.hidden, s.kvHeads * hd),
        o: pair(s.heads * hd, s.hidden),
      },
    });
  }
  return { embed: w([s.vocab, s.hidden]), finalNorm: tf.ones([s.hidden]), layers };
}

function loraVariables(m: Model): Variable[] {
  return m.layers.flatMap((l) => [l.lora.q, l.lora.k, l.lora.v, l.lora.o].flatMap((p) => [p.a, p.b]));
}

/** Mean token cross-entropy of next-token prediction. ids [B, T], targets [B·T] int32, weights [B·T]. */
function loss(ops: Ops, m: Model, s: LoraStepShape, ids: Tensor, targets: Tensor, weights: Tensor, cos: Tensor, sin: Tensor, mask: Tensor): tf.Scalar {
  const hd = s.hidden / s.heads;
  const scale = s.alpha / s.rank;
  const { batch: B, seq: T } = s;
  const lora = (x: Tensor, wt: Tensor, p: LoraPair) =>
    ops.loraLinear
      ? ops.loraLinear(x, wt, null, p.a, p.b, scale) // one fused op (src/main/ml/native/ops.ts)
      : tf.add(ops.linear(x, wt), tf.mul(ops.linear(ops.linear(x, p.a), p.b), scale)); // [..., out], as lora/layer.ts
  const heads = (t: Tensor, n: number) => t.reshape([B, T, n, hd]).transpose([0, 2, 1, 3]); // [B, n, T, hd]

  let h = tf.gather(m.embed, ids); // [B, T, D]
  for (const l of m.layers) {
    // One tidy per layer, as llama.ts: what the backward pass needs is kept by the tape, the rest goes now.
    h = tf.tidy(() => {
      const x = ops.rmsNorm(h, l.inputNorm, s.rmsEps);
      const q = ops.rope(heads(lora(x, l.q, l.lora.q), s.heads), cos, sin); // [B, nH, T, hd]
      const k = ops.rope(heads(lora(x, l.k, l.lora.k), s.kvHeads), cos, sin); // [B, nKV, T, hd]
      const v = heads(lora(x, l.v, l.lora.v), s.kvHeads);
      const att = ops.attention(q, k, v, mask, 1 / Math.sqrt(hd)); // [B, nH, T, hd]
      const h1 = tf.add(h, lora(att.transpose([0, 2, 1, 3]).reshape([B, T, s.hidden]), l.o, l.lora.o));
      const x2 = ops.rmsNorm(h1, l.postNorm, s.rmsEps);
      return tf.add(h1, ops.linear(ops.swiglu(ops.linear(x2, l.gate), ops.linear(x2, l.up)), l.down));
    });
  }
  const logits = ops.linear(ops.rmsNorm(h, m.finalNorm, s.rmsEps), m.embed); // [B, T, V]
  const N = B * T;
  const total = ops.crossEntropy(logits.reshape([N, s.vocab]), targets, weights);
  return tf.div(total, N) as tf.Scalar;
}

/** AdamW (decoupled weight decay), as torch.optim.AdamW. */
class AdamW {
  private m: Tensor[];
  private v: Tensor[];
  private t = 0;
  constructor(private vars: Variable[], private lr = 1e-4, private b1 = 0.9, private b2 = 0.999, private eps = 1e-8, private wd = 0.01) {
    this.m = vars.map((x) => tf.zerosLike(x));
    this.v = vars.map((x) => tf.zerosLike(x));
  }
  step(grads: Record<string, Tensor>): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    this.vars.forEach((p, i) => {
      const g = grads[p.name];
      const [m, v] = tf.tidy(() => [tf.add(tf.mul(this.m[i], this.b1), tf.mul(g, 1 - this.b1)), tf.add(tf.mul(this.v[i], this.b2), tf.mul(tf.square(g), 1 - this.b2))]);
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = m;
      this.v[i] = v;
      tf.tidy(() => {
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        p.assign(tf.sub(tf.mul(p, 1 - this.lr * this.wd), tf.mul(update, this.lr)));
      });
    });
  }
  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

function ropeTables(s: LoraStepShape): { cos: Tensor; sin: Tensor } {
  const hd = s.hidden / s.heads;
  const half = hd / 2;
  const angles = new Float32Array(s.seq * hd); // [T, hd]: the hd/2 frequencies twice (rotate-half layout)
  for (let t = 0; t < s.seq; t++) {
    for (let i = 0; i < half; i++) {
      const a = t / s.ropeTheta ** ((2 * i) / hd);
      angles[t * hd + i] = a;
      angles[t * hd + half + i] = a;
    }
  }
  return tf.tidy(() => {
    const a = tf.tensor3d(angles, [1, s.seq, hd]);
    return { cos: tf.broadcastTo(tf.cos(a), [s.batch, s.seq, hd]), sin: tf.broadcastTo(tf.sin(a), [s.batch, s.seq, hd]) };
  });
}

/** Deterministic pseudo-random token ids [B, T + 1] (inputs are the first T, targets the last T). */
function tokens(s: LoraStepShape, seed: number): Int32Array {
  const out = new Int32Array(s.batch * (s.seq + 1));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % s.vocab;
  }
  return out;
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

type Timing = { calls: number; ms: number; cpuMs: number };

/** Wraps each function to add its wall and CPU time to `stats` under `name(key)`; returns an undo. */
function timeCalls(stats: Map<string, Timing>, wrapAll: (wrap: <F extends (...a: never[]) => unknown>(key: string, f: F) => F) => () => void): () => void {
  return wrapAll((key, f) => {
    const wrapped = (...args: never[]) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = f(...args);
      const c = process.cpuUsage(c0);
      const e = stats.get(key) ?? { calls: 0, ms: 0, cpuMs: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      e.cpuMs += (c.user + c.system) / 1000;
      stats.set(key, e);
      return out;
    };
    return wrapped as unknown as typeof f;
  });
}

/**
 * Times every kernel of `backend` (exclusive: CPU kernels call each other directly, not through
 * the registry) and, when given, every function of the native addon. Returns a reader and an undo.
 */
function profile(backend: string, addon: Record<string, unknown> | null): { read: () => Map<string, Timing>; restore: () => void } {
  const stats = new Map<string, Timing>();
  const originals = tf.getKernelsForBackend(backend);
  const undoKernels = timeCalls(stats, (wrap) => {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, backend);
      tf.registerKernel({ ...config, kernelFunc: wrap(`kernel ${config.kernelName}`, config.kernelFunc) });
    }
    return () => {
      for (const config of originals) {
        tf.unregisterKernel(config.kernelName, backend);
        tf.registerKernel(config);
      }
    };
  });
  const undoAddon = addon
    ? timeCalls(stats, (wrap) => {
        const saved = { ...addon };
        for (const [k, v] of Object.entries(addon)) if (typeof v === 'function' && k !== 'info') addon[k] = wrap(`native ${k}`, v as (...a: never[]) => unknown);
        return () => Object.assign(addon, saved);
      })
    : () => {};
  return { read: () => stats, restore: () => (undoKernels(), undoAddon()) };
}

/**
 * Builds the model on `backend` (already registered and ready), runs `warmup` untimed steps and
 * `steps` timed ones, and disposes everything it made.
 */
export async function runLoraStep(
  backend: string,
  shape: LoraStepShape,
  options: {
    ops?: Ops;
    steps?: number;
    warmup?: number;
    profile?: boolean;
    /** Writes a V8 CPU profile of the timed steps (open in Chrome DevTools) to this file. */
    cpuProfile?: string;
    seed?: number;
    addon?: Record<string, unknown> | null;
  } = {},
): Promise<LoraStepResult> {
  const ops = options.ops ?? compositeOps;
  const steps = options.steps ?? 2;
  const warmup = options.warmup ?? 1;
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' failed to initialise`);
  const s = shape;
  const before = tf.memory().numTensors;
  const model = buildModel(s, options.seed ?? 1);
  const vars = loraVariables(model);
  const opt = new AdamW(vars);
  const raw = tokens(s, options.seed ?? 1);
  // Made once, outside the differentiated function (as a trainer does): ids [B, T], targets [B·T].
  const [ids, targets, weights] = tf.tidy(() => {
    const all = tf.tensor2d(raw, [s.batch, s.seq + 1], 'int32');
    return [all.slice([0, 0], [s.batch, s.seq]), all.slice([0, 1], [s.batch, s.seq]).reshape([s.batch * s.seq]), tf.ones([s.batch * s.seq])];
  });
  const { cos, sin } = ropeTables(s);
  const mask = additiveAttentionMask(undefined, s.batch, s.seq, 0) as Tensor; // causal [B, 1, T, T]

  const losses: number[] = [];
  const step = () => {
    const { value, grads } = tf.variableGrads(() => loss(ops, model, s, ids, targets, weights, cos, sin, mask), vars);
    opt.step(grads);
    losses.push(value.dataSync()[0]);
    tf.dispose([value, ...Object.values(grads)]);
  };

  for (let i = 0; i < warmup; i++) step();
  const prof = options.profile ? profile(backend, options.addon ?? null) : null;
  let gcMs = 0;
  const gcObserver = options.profile ? new PerformanceObserver((list) => list.getEntries().forEach((e) => (gcMs += e.duration))) : null;
  gcObserver?.observe({ entryTypes: ['gc'] });
  const inspector = options.cpuProfile ? new Session() : null;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    step();
    // Lets queued garbage-collection entries reach the observer (they wait for the event loop).
    if (gcObserver) await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (inspector && options.cpuProfile) {
    const { profile: cpuProfile } = await inspector.post('Profiler.stop');
    fs.writeFileSync(options.cpuProfile, JSON.stringify(cpuProfile));
    inspector.disconnect();
  }
  prof?.restore();
  gcObserver?.disconnect();

  tf.dispose([ids, targets, weights, cos, sin, mask, model.embed, model.finalNorm, ...vars]);
  for (const l of model.layers) tf.dispose([l.inputNorm, l.postNorm, l.q, l.k, l.v, l.o, l.gate, l.up, l.down]);
  opt.dispose();
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`lora step leaked ${leaked} tensors`);

  const result: LoraStepResult = {
    backend,
    ops: ops.name,
    shape: s,
    steps,
    secondsPerStep: seconds / steps,
    tokensPerSecond: (steps * s.batch * s.seq) / seconds,
    peakRssMiB: peakRssMiB(),
    cpuSecondsPerStep: (cpu.user + cpu.system) / 1e6 / steps,
    firstLoss: losses[0],
    lastLoss: losses[losses.length - 1],
  };
  if (prof) {
    const rows = [...prof.read().entries()].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.cpuMs - a.cpuMs);
    result.profile = rows;
    result.profileOtherMs = seconds * 1000 - rows.filter((r) => r.name.startsWith('kernel ')).reduce((a, r) => a + r.ms, 0);
    result.profileGcMs = gcMs;
  }
  return result;
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const backend = arg('--backend') ?? 'native';
  const opsName = arg('--ops') ?? 'composite';
  let ops: Ops = compositeOps;
  let addon: Record<string, unknown> | null = null;
  if (backend === 'native' || opsName === 'native') {
    const native = await import('../src/main/ml/native/index');
    const r = await native.registerNativeBackend();
    if (!r.ok) throw new Error(r.reason);
    const load = (await import('../src/main/ml/native/addon')).loadAddon();
    if (load.ok) addon = load.addon as unknown as Record<string, unknown>;
    if (opsName === 'native') {
      ops = (await import('../src/main/ml/native/ops')).nativeOps;
    }
  }
  if (opsName === 'fused') ops = (await import('../src/main/ml/ops/fused')).fusedOps;
  else if (opsName !== 'composite' && opsName !== 'native') throw new Error(`--ops must be composite, fused or native, got ${opsName}`);
  // --no-fused-lora: LoRA as lora/layer.ts composes it without a fused op (three linears, a mul and an add).
  if (argv.includes('--no-fused-lora')) ops = { ...ops, loraLinear: undefined };
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    (await import('../src/main/ml/ops/wasm')).tuneWasmBackend();
  }
  const base = argv.includes('--quick') ? QUICK : SMOLLM2_135M;
  const layers = arg('--layers') === undefined ? base.layers : Number(arg('--layers'));
  if (!Number.isInteger(layers) || layers < 1) throw new Error(`--layers must be a positive integer, got ${arg('--layers')}`);
  const shape = { ...base, layers };
  const res = await runLoraStep(backend, shape, {
    ops,
    steps: Number(arg('--steps') ?? (argv.includes('--quick') ? 3 : 2)),
    profile: argv.includes('--profile'),
    cpuProfile: arg('--cpu-profile'),
    addon,
  });
  if (res.profile) {
    const per = (ms: number) => (ms / res.steps).toFixed(1).padStart(9);
    console.error(`${'name'.padEnd(30)} ${'calls'.padStart(6)} ${'wall ms'.padStart(9)} ${'cpu ms'.padStart(9)}  (per step)`);
    for (const r of res.profile.slice(0, 45)) console.error(`${r.name.padEnd(30)} ${String(r.calls / res.steps).padStart(6)} ${per(r.ms)} ${per(r.cpuMs)}`);
    console.error(`${'(wall outside tfjs kernels)'.padEnd(37)} ${per(res.profileOtherMs ?? 0)}`);
    console.error(`${'(garbage collection pauses)'.padEnd(37)} ${per(res.profileGcMs ?? 0)}`);
    // --json keeps the top rows (bench/index.ts prints them as the profile of the step)
    if (argv.includes('--json')) res.profile = res.profile.slice(0, 16);
    else delete res.profile;
  }
  console.log(JSON.stringify(res));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    // An Emscripten abort inside a kernel (malloc failed) says only "Aborted()": name the cause.
    if (/Aborted\(/.test(String(err))) {
      console.error('bench/lora_step.ts: the wasm heap ran out (wasm32 allows at most 4 GiB); the composite ops keep ~270 MB per layer at SmolLM2 shapes, --ops fused ~60 MB');
    }
    process.exit(1);
  });
}
