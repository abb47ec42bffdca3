/**
 * Kernel throughput on the LoRA step's shapes (SmolLM2-135M, batch 4 × 256 tokens):
 *
 * - matmul GFLOP/s: raw OpenBLAS sgemm (one cblas_sgemm call with OpenBLAS's own threads, no
 *   tfjs), the addon's GEMM (BLAS single-threaded, the addon's pool splitting the product), and
 *   tf.matMul on the `native` backend (what training runs: tfjs dispatch + output allocation);
 *   the ratio native tf.matMul / raw OpenBLAS is the "matmul share" of issue 5.
 * - elementwise Melem/s on the cpu, wasm and native backends: add, mul, exp, sigmoid on
 *   [1024, 1536], softmax on [9216, 256], the 4-D head-split transpose.
 *
 * Run alone:  npx tsx bench/kernels.ts [--quick] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import type { NativeAddon } from '../src/main/ml/native/addon';

export interface MatmulRow {
  name: string;
  /** [batch, M, N, K, transA, transB] */
  shape: [number, number, number, number, boolean, boolean];
  /** Wall-clock GFLOP/s. */
  gflops: { openblas: number; addonGemm: number; tfjsNative: number };
  /** GFLOP per second of process CPU time (all threads): comparable even on a busy machine. */
  gflopsPerCpuSecond: { openblas: number; addonGemm: number; tfjsNative: number };
  /** tfjsNative / openblas, wall clock */
  share: number;
}

export interface ElementwiseRow {
  name: string;
  elements: number;
  /** Melem/s per backend; null when the backend is not available. */
  melemPerSec: Record<string, number | null>;
}

export interface KernelBenchResult {
  blas: string;
  threads: number;
  matmul: MatmulRow[];
  elementwise: ElementwiseRow[];
}

const T = 1024; // tokens per step (4 × 256)
const D = 576;
const F = 1536;
const KV = 192;
const V = 49152;

/** The products of one training step: forward y = x·Wᵀ, backward dx = dy·W, LoRA, attention. */
const MATMULS: [string, MatmulRow['shape']][] = [
  ['q/o proj  x·Wᵀ', [1, T, D, D, false, true]],
  ['k/v proj  x·Wᵀ', [1, T, KV, D, false, true]],
  ['gate/up   x·Wᵀ', [1, T, F, D, false, true]],
  ['down      x·Wᵀ', [1, T, D, F, false, true]],
  ['lm_head   x·Eᵀ', [1, T, V, D, false, true]],
  ['down      dy·W', [1, T, F, D, false, false]],
  ['lm_head   dy·E', [1, T, D, V, false, false]],
  ['LoRA      x·Aᵀ', [1, T, 8, D, false, true]],
  ['LoRA dA   gᵀ·x', [1, 8, D, T, true, false]],
  ['attn      q·kᵀ', [36, 256, 256, 64, false, true]],
  ['attn      p·v', [36, 256, 64, 256, false, false]],
  ['attn dk   dsᵀ·q', [36, 256, 64, 256, true, false]],
];

/** Repeats fn until `minMs` have passed (after one warm-up call); returns calls per wall second and per CPU second. */
function rates(fn: () => void, minMs: number): { wall: number; cpu: number } {
  fn();
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = 0;
  do {
    fn();
    n++;
    t = performance.now() - t0;
  } while (t < minMs);
  const c = process.cpuUsage(c0);
  return { wall: (n * 1000) / t, cpu: n / ((c.user + c.system) / 1e6) };
}

const rate = (fn: () => void, minMs: number): number => rates(fn, minMs).wall;

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function benchMatmul(addon: NativeAddon, minMs: number, quick: boolean): MatmulRow[] {
  const rows: MatmulRow[] = [];
  for (const [name, shape] of quick ? MATMULS.filter((_, i) => i % 3 === 0) : MATMULS) {
    const [batch, m, n, k, ta, tb] = shape;
    const a = randomArray(batch * m * k, 1);
    const b = randomArray(batch * k * n, 2);
    const c = new Float32Array(batch * m * n);
    const ao = Float64Array.from({ length: batch }, (_, i) => i * m * k);
    const bo = Float64Array.from({ length: batch }, (_, i) => i * k * n);
    const flop = 2 * batch * m * n * k;
    const gemm = () => addon.gemm(a, b, c, batch, m, n, k, ta, tb, ao, bo, 1, 0);
    addon.setGemmMode('blas');
    const openblas = rates(gemm, minMs);
    addon.setGemmMode('pool');
    const addonGemm = rates(gemm, minMs);
    const at = tf.tensor(a, batch === 1 ? (ta ? [k, m] : [m, k]) : ta ? [batch, k, m] : [batch, m, k]);
    const bt = tf.tensor(b, batch === 1 ? (tb ? [n, k] : [k, n]) : tb ? [batch, n, k] : [batch, k, n]);
    const tfjsNative = rates(() => tf.matMul(at, bt, ta, tb).dispose(), minMs);
    tf.dispose([at, bt]);
    const g = (r: { wall: number; cpu: number }, key: 'wall' | 'cpu') => (r[key] * flop) / 1e9;
    rows.push({
      name,
      shape,
      gflops: { openblas: g(openblas, 'wall'), addonGemm: g(addonGemm, 'wall'), tfjsNative: g(tfjsNative, 'wall') },
      gflopsPerCpuSecond: { openblas: g(openblas, 'cpu'), addonGemm: g(addonGemm, 'cpu'), tfjsNative: g(tfjsNative, 'cpu') },
      share: tfjsNative.wall / openblas.wall,
    });
  }
  return rows;
}

const ELEMENTWISE: [string, number[], (x: tf.Tensor, y: tf.Tensor) => tf.Tensor][] = [
  ['add [1024, 1536]', [1024, 1536], (x, y) => tf.add(x, y)],
  ['mul [1024, 1536]', [1024, 1536], (x, y) => tf.mul(x, y)],
  ['exp [1024, 1536]', [1024, 1536], (x) => tf.exp(x)],
  ['sigmoid [1024, 1536]', [1024, 1536], (x) => tf.sigmoid(x)],
  ['softmax [9216, 256]', [9216, 256], (x) => tf.softmax(x)],
  ['transpose [4, 256, 9, 64] → [0, 2, 1, 3]', [4, 256, 9, 64], (x) => tf.transpose(x, [0, 2, 1, 3])],
];

async function benchElementwise(backends: string[], minMs: number): Promise<ElementwiseRow[]> {
  const rows: ElementwiseRow[] = ELEMENTWISE.map(([name, shape]) => ({ name, elements: shape.reduce((a, b) => a * b, 1), melemPerSec: {} }));
  for (const backend of backends) {
    const ok = await tf.setBackend(backend).catch(() => false);
    ELEMENTWISE.forEach(([, shape, f], i) => {
      if (!ok) {
        rows[i].melemPerSec[backend] = null;
        return;
      }
      const n = rows[i].elements;
      const x = tf.tensor(randomArray(n, 3), shape);
      const y = tf.tensor(randomArray(n, 4), shape);
      // The pure-JS cpu backend is ~100× slower: give it one timed call.
      const ms = backend === 'cpu' ? 1 : minMs;
      rows[i].melemPerSec[backend] = (rate(() => f(x, y).dataSync(), ms) * n) / 1e6;
      tf.dispose([x, y]);
    });
  }
  return rows;
}

/** Runs both parts; the native backend must be registered (see src/main/ml/native). */
export async function runKernelBench(addon: NativeAddon, options: { quick?: boolean; backends?: string[] } = {}): Promise<KernelBenchResult> {
  const minMs = options.quick ? 150 : 600;
  await tf.setBackend('native');
  const matmul = benchMatmul(addon, minMs, options.quick ?? false);
  const elementwise = await benchElementwise(options.backends ?? ['cpu', 'wasm', 'native'], minMs);
  await tf.setBackend('native');
  const info = addon.info();
  return { blas: info.blas, threads: info.threads, matmul, elementwise };
}

export function formatKernelBench(r: KernelBenchResult): string {
  const lines = [
    `BLAS: ${r.blas}; ${r.threads} threads`,
    '',
    'matmul: GFLOP/s wall (GFLOP per CPU-second)   OpenBLAS          addon gemm        tf.matMul native   share',
  ];
  const cell = (wall: number, cpu: number) => `${wall.toFixed(1).padStart(7)} (${cpu.toFixed(1).padStart(5)})`.padEnd(18);
  for (const m of r.matmul) {
    const w = m.gflops;
    const c = m.gflopsPerCpuSecond;
    lines.push(`${m.name.padEnd(44)} ${cell(w.openblas, c.openblas)}${cell(w.addonGemm, c.addonGemm)}${cell(w.tfjsNative, c.tfjsNative)} ${(m.share * 100).toFixed(0).padStart(4)}%`);
  }
  const backends = Object.keys(r.elementwise[0]?.melemPerSec ?? {});
  lines.push('', `elementwise (Melem/s)${' '.repeat(24)}${backends.map((b) => b.padStart(10)).join('')}`);
  for (const e of r.elementwise) {
    lines.push(`${e.name.padEnd(45)}${backends.map((b) => (e.melemPerSec[b] === null ? 'n/a' : (e.melemPerSec[b] as number).toFixed(0)).padStart(10)).join('')}`);
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const native = await import('../src/main/ml/native/index');
  const r = await native.registerNativeBackend();
  if (!r.ok) throw new Error(r.reason);
  const load = (await import('../src/main/ml/native/addon')).loadAddon();
  if (!load.ok) throw new Error(load.reason);
  await import('@tensorflow/tfjs-backend-wasm');
  const res = await runKernelBench(load.addon, { quick: argv.includes('--quick') });
  console.log(argv.includes('--json') ? JSON.stringify(res) : formatKernelBench(res));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
