/**
 * Weighted combination of adapters on the same base: ΔW = Σᵢ wᵢ·sᵢ·Bᵢ·Aᵢ per module, as one new
 * LoRA adapter. Exact by concatenation of ranks:
 *
 *   B = [c₁·B₁ | c₂·B₂ | …]  [out, Σrᵢ],   A = [c₁'·A₁; c₂'·A₂; …]  [Σrᵢ, in],   scale s
 *   with cᵢ·cᵢ' = wᵢ·sᵢ/s, split as cᵢ' = √|wᵢ·sᵢ/s|, cᵢ = sign(wᵢ)·cᵢ'
 *
 * s is the scale of the first contributing adapter, so combining A with weight 1 and B with weight 0
 * returns A's factors unchanged. Inputs with weight 0 add no rank. With `rank`, each module's
 * combined ΔW is cut to that rank by truncated SVD (energy kept is reported). A module present in
 * only some inputs gets only their terms; the result's target_modules/layers_to_transform select
 * exactly the modules present (selection.ts).
 */
import { loraScale } from '../ml/lora/spec';
import { factorsFromSvd } from './factorize';
import { cumulativeEnergy, lowRankSvd } from './lowrank';
import { compareNames, moduleScale, newLoraConfigTree, patternsFor, type AdapterWeights, type LoraModuleWeights } from './peft-files';
import { AdapterOpError, type AdapterResult } from './resize';
import { describeSelection } from './selection';

export interface CombineInput {
  adapter: AdapterWeights;
  weight: number;
}

export interface CombinedModule {
  module: string;
  /** Rank after concatenation (Σ rᵢ over contributing inputs). */
  concatRank: number;
  rank: number;
  /** Share of ‖ΔW‖² kept by the SVD cut (1 without one). */
  energyKept: number;
  /** Inputs (by position) that contribute to this module. */
  from: number[];
}

export interface CombineOptions {
  rank?: number;
  baseModel: string;
  /** The base model's projection names and layer count, to describe the selection compactly. */
  modelModules?: readonly string[];
  numLayers?: number;
}

export function combineAdapters(inputs: readonly CombineInput[], opts: CombineOptions): AdapterResult & { report: CombinedModule[] } {
  if (inputs.length < 2) throw new AdapterOpError('combine needs at least two adapters');
  for (const [i, inp] of inputs.entries()) {
    if (!Number.isFinite(inp.weight)) throw new AdapterOpError(`weight of adapter ${i + 1} is not a number`);
  }
  const active = inputs.map((inp, i) => ({ ...inp, index: i })).filter((inp) => inp.weight !== 0);
  if (active.length === 0) throw new AdapterOpError('every weight is 0: the combination would do nothing');
  if (opts.rank !== undefined && (!Number.isInteger(opts.rank) || opts.rank < 1)) throw new AdapterOpError(`rank must be a whole number ≥ 1, got ${opts.rank}`);

  // Every module name across the inputs, with consistent shapes.
  const shapes = new Map<string, { inFeatures: number; outFeatures: number; from: string }>();
  for (const inp of inputs) {
    for (const m of inp.adapter.modules) {
      const seen = shapes.get(m.name);
      if (seen && (seen.inFeatures !== m.inFeatures || seen.outFeatures !== m.outFeatures)) {
        throw new AdapterOpError(
          `${m.name} is ${seen.outFeatures}×${seen.inFeatures} in ${seen.from} but ${m.outFeatures}×${m.inFeatures} in ${inp.adapter.dir}: the adapters were trained on different base models`,
        );
      }
      if (!seen) shapes.set(m.name, { inFeatures: m.inFeatures, outFeatures: m.outFeatures, from: inp.adapter.dir });
    }
  }

  const modules: LoraModuleWeights[] = [];
  const report: CombinedModule[] = [];
  for (const name of [...shapes.keys()].sort(compareNames)) {
    const { inFeatures, outFeatures } = shapes.get(name)!;
    const terms = active
      .map((inp) => ({ inp, m: inp.adapter.modules.find((x) => x.name === name) }))
      .filter((t): t is { inp: (typeof active)[number]; m: LoraModuleWeights } => t.m !== undefined);
    if (terms.length === 0) continue; // only in zero-weight inputs
    const first = terms[0];
    const scale = moduleScale(first.m, first.inp.adapter.config.settings.rslora);
    const rTotal = terms.reduce((n, t) => n + t.m.r, 0);
    const b = new Float32Array(outFeatures * rTotal);
    const a = new Float32Array(rTotal * inFeatures);
    let col = 0;
    for (const { inp, m } of terms) {
      const c = (inp.weight * moduleScale(m, inp.adapter.config.settings.rslora)) / scale;
      const ca = Math.sqrt(Math.abs(c));
      const cb = Math.sign(c) * ca;
      for (let i = 0; i < outFeatures; i++) for (let j = 0; j < m.r; j++) b[i * rTotal + col + j] = cb === 1 ? m.b[i * m.r + j] : cb * m.b[i * m.r + j];
      for (let j = 0; j < m.r; j++) {
        const row = (col + j) * inFeatures;
        for (let i = 0; i < inFeatures; i++) a[row + i] = ca === 1 ? m.a[j * inFeatures + i] : ca * m.a[j * inFeatures + i];
      }
      col += m.r;
    }
    const alphaFor = (r: number) => scale * r; // plain LoRA scaling: s = alpha / r
    let out: LoraModuleWeights = { name, r: rTotal, alpha: alphaFor(rTotal), inFeatures, outFeatures, a, b };
    let energyKept = 1;
    if (opts.rank !== undefined && opts.rank < rTotal) {
      const d = lowRankSvd(b, a, outFeatures, rTotal, inFeatures, scale);
      const k = Math.min(opts.rank, d.s.length);
      const r = opts.rank;
      const newScale = loraScale(alphaFor(r), r, false);
      const f = factorsFromSvd(d, r, newScale);
      out = { name, r, alpha: alphaFor(r), inFeatures, outFeatures, a: f.a, b: f.b };
      energyKept = k > 0 ? cumulativeEnergy(d.s)[k - 1] : 0;
    }
    modules.push(out);
    report.push({ module: name, concatRank: rTotal, rank: out.r, energyKept, from: terms.map((t) => t.inp.index) });
  }

  report.sort((a, b) => a.module.localeCompare(b.module, undefined, { numeric: true }));
  const p = patternsFor(modules);
  const sel = describeSelection(
    modules.map((m) => m.name),
    opts.modelModules ?? null,
    opts.numLayers ?? null,
  );
  const settings = inputs[0].adapter.config.settings;
  const tree = newLoraConfigTree({
    baseModel: opts.baseModel,
    r: p.r,
    alpha: p.alpha,
    dropout: settings.dropout,
    targets: sel.targets,
    layers: sel.layers,
    rankPattern: p.rankPattern,
    alphaPattern: p.alphaPattern,
    rslora: false,
    fanInFanOut: settings.fanInFanOut,
  });
  return { tree, modules, report };
}
