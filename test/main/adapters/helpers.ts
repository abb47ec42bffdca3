/** In-memory adapters for tests. */
import { newLoraConfigTree, settingsFromTree, type AdapterWeights, type LoraModuleWeights } from '../../../src/main/adapters/peft-files';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

export interface FakeModule {
  name: string;
  inFeatures: number;
  outFeatures: number;
}

export function fakeAdapter(modules: FakeModule[], opts: { r: number; alpha: number; seed: number; rslora?: boolean; dir?: string }): AdapterWeights {
  const tree = newLoraConfigTree({
    baseModel: 'test/base',
    r: opts.r,
    alpha: opts.alpha,
    dropout: 0,
    targets: [...new Set(modules.map((m) => m.name.split('.').at(-1) as string))],
    layers: null,
    rslora: opts.rslora ?? false,
    fanInFanOut: false,
  });
  const ms: LoraModuleWeights[] = modules.map((m, i) => ({
    ...m,
    r: opts.r,
    alpha: opts.alpha,
    a: randomArray(opts.r * m.inFeatures, opts.seed * 100 + i),
    b: randomArray(m.outFeatures * opts.r, opts.seed * 100 + i + 50),
  }));
  return { dir: opts.dir ?? `memory:${opts.seed}`, config: { file: 'adapter_config.json', tree, settings: settingsFromTree('adapter_config.json', tree) }, modules: ms, dtype: 'F32' };
}

/** Dense s·B·A [out, in] in Float64. */
export function denseDelta(m: LoraModuleWeights, scale: number): Float64Array {
  const out = new Float64Array(m.outFeatures * m.inFeatures);
  for (let i = 0; i < m.outFeatures; i++) {
    for (let k = 0; k < m.r; k++) {
      const bik = m.b[i * m.r + k] * scale;
      if (bik === 0) continue;
      for (let j = 0; j < m.inFeatures; j++) out[i * m.inFeatures + j] += bik * m.a[k * m.inFeatures + j];
    }
  }
  return out;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
