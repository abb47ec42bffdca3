/**
 * Resize an adapter to rank r' < r by truncated SVD of each module's ΔW (kohya's resize_lora for
 * image models, here for PEFT LLM adapters). The kept update is the best rank-r' approximation of
 * ΔW (Eckart–Young); the report says, per module, what share of ‖ΔW‖² that keeps.
 *
 * The scale s = alpha/r of each module is preserved by setting lora_alpha' = s·r' (s·√r' with
 * rsLoRA), so the resized adapter behaves the same under further training settings. Modules whose
 * rank is already ≤ r' are copied unchanged.
 */
import { loraScale } from '../ml/lora/spec';
import { factorsFromSvd } from './factorize';
import { cumulativeEnergy, lowRankSvd } from './lowrank';
import { moduleScale, patternsFor, type AdapterWeights, type LoraModuleWeights } from './peft-files';
import { pyNumber, type PyJsonObject } from './pyjson';

export interface ResizedModule {
  module: string;
  fromRank: number;
  toRank: number;
  /** Share of ‖ΔW‖²_F kept (1 when copied). */
  energyKept: number;
  /** σ_{r'+1} / σ_1: the largest dropped singular value relative to the top one. */
  droppedRatio: number;
}

export interface AdapterResult {
  tree: PyJsonObject;
  modules: LoraModuleWeights[];
}

export class AdapterOpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterOpError';
  }
}

export function resizeAdapter(src: AdapterWeights, newRank: number): AdapterResult & { report: ResizedModule[]; meanEnergyKept: number; minEnergyKept: number } {
  if (!Number.isInteger(newRank) || newRank < 1) throw new AdapterOpError(`rank must be a whole number ≥ 1, got ${newRank}`);
  const maxRank = Math.max(...src.modules.map((m) => m.r));
  if (newRank >= maxRank) throw new AdapterOpError(`rank ${newRank} is not below the adapter's rank ${maxRank}; resizing only lowers the rank`);
  const rslora = src.config.settings.rslora;
  const modules: LoraModuleWeights[] = [];
  const report: ResizedModule[] = [];
  for (const m of src.modules) {
    if (m.r <= newRank) {
      modules.push(m);
      report.push({ module: m.name, fromRank: m.r, toRank: m.r, energyKept: 1, droppedRatio: 0 });
      continue;
    }
    const s = moduleScale(m, rslora);
    const d = lowRankSvd(m.b, m.a, m.outFeatures, m.r, m.inFeatures, s);
    const k = Math.min(newRank, d.s.length);
    const alpha = rslora ? s * Math.sqrt(newRank) : s * newRank;
    const newScale = loraScale(alpha, newRank, rslora);
    const { a, b } = factorsFromSvd(d, newRank, newScale);
    modules.push({ ...m, r: newRank, alpha, a, b });
    const energy = cumulativeEnergy(d.s);
    report.push({
      module: m.name,
      fromRank: m.r,
      toRank: newRank,
      energyKept: k > 0 ? energy[k - 1] : 0,
      droppedRatio: d.s[0] > 0 && k < d.s.length ? d.s[k] / d.s[0] : 0,
    });
  }
  const p = patternsFor(modules);
  const tree: PyJsonObject = {
    ...src.config.tree,
    r: p.r,
    lora_alpha: pyNumber(p.alpha),
    rank_pattern: Object.fromEntries(Object.entries(p.rankPattern).map(([k, v]) => [k, v])),
    alpha_pattern: Object.fromEntries(Object.entries(p.alphaPattern).map(([k, v]) => [k, pyNumber(v)])),
    init_lora_weights: true,
  };
  report.sort((a, b) => a.module.localeCompare(b.module, undefined, { numeric: true }));
  const kept = report.map((r) => r.energyKept);
  return { tree, modules, report, meanEnergyKept: kept.reduce((a, b) => a + b, 0) / Math.max(1, kept.length), minEnergyKept: Math.min(...kept) };
}
