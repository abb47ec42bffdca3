/**
 * What an adapter learned, per adapted module: the singular values of ΔW = s·B·A (through the r×r
 * core, lowrank.ts), the share of ‖ΔW‖² the top-k directions hold, and the effective rank. A
 * module whose energy sits in one or two directions could be resized far below its rank.
 */
import { cumulativeEnergy, effectiveRank, lowRankSvd, rankForEnergy } from './lowrank';
import { moduleScale, type LoraModuleWeights } from './peft-files';

export interface ModuleSpectrum {
  module: string;
  r: number;
  scale: number;
  /** Singular values of ΔW, descending (min(r, in, out) of them). */
  singularValues: number[];
  /** energy[k-1]: fraction of ‖ΔW‖²_F in the top k singular values. */
  energy: number[];
  /** exp(entropy of σ/Σσ) (Roy & Vetterli 2007). */
  effectiveRank: number;
  /** Smallest k holding 90% / 99% of the energy. */
  rank90: number;
  rank99: number;
  /** ‖ΔW‖_F */
  norm: number;
}

export interface AdapterSpectrum {
  modules: ModuleSpectrum[];
  /** Means over modules. */
  meanEffectiveRank: number;
  meanRank90: number;
  /** Energy kept, averaged over modules, if every module were cut to k = 1..maxRank. */
  meanEnergyAtRank: number[];
}

export function moduleSpectrum(m: LoraModuleWeights, rslora: boolean): ModuleSpectrum {
  const scale = moduleScale(m, rslora);
  const { s } = lowRankSvd(m.b, m.a, m.outFeatures, m.r, m.inFeatures, scale, false);
  const sv = Array.from(s);
  let norm2 = 0;
  for (const x of sv) norm2 += x * x;
  return {
    module: m.name,
    r: m.r,
    scale,
    singularValues: sv,
    energy: cumulativeEnergy(sv),
    effectiveRank: effectiveRank(sv),
    rank90: rankForEnergy(sv, 0.9),
    rank99: rankForEnergy(sv, 0.99),
    norm: Math.sqrt(norm2),
  };
}

export function adapterSpectrum(modules: readonly LoraModuleWeights[], rslora: boolean): AdapterSpectrum {
  // layer order (layers.2 before layers.10), as people read a model
  const out = modules.map((m) => moduleSpectrum(m, rslora)).sort((a, b) => a.module.localeCompare(b.module, undefined, { numeric: true }));
  const n = Math.max(1, out.length);
  const maxRank = Math.max(0, ...out.map((m) => m.energy.length));
  const meanEnergyAtRank = Array.from({ length: maxRank }, (_, k) => out.reduce((acc, m) => acc + (m.energy[Math.min(k, m.energy.length - 1)] ?? 0), 0) / n);
  return {
    modules: out,
    meanEffectiveRank: out.reduce((a, m) => a + m.effectiveRank, 0) / n,
    meanRank90: out.reduce((a, m) => a + m.rank90, 0) / n,
    meanEnergyAtRank,
  };
}
