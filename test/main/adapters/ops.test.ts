import { describe, expect, it } from 'vitest';
import { fromArray, svd } from '../../../src/main/adapters/linalg';
import { combineAdapters } from '../../../src/main/adapters/combine';
import { moduleScale, readAdapterWeights, settingsFromTree } from '../../../src/main/adapters/peft-files';
import { toPlain } from '../../../src/main/adapters/pyjson';
import { resizeAdapter } from '../../../src/main/adapters/resize';
import { describeSelection } from '../../../src/main/adapters/selection';
import { adapterSpectrum, moduleSpectrum } from '../../../src/main/adapters/spectrum';
import { adapterDir } from './fixtures';
import { denseDelta, fakeAdapter, maxAbs, maxAbsDiff } from './helpers';

const MODULES = [
  { name: 'model.layers.0.self_attn.q_proj', inFeatures: 24, outFeatures: 24 },
  { name: 'model.layers.0.self_attn.v_proj', inFeatures: 24, outFeatures: 8 },
  { name: 'model.layers.1.self_attn.q_proj', inFeatures: 24, outFeatures: 24 },
  { name: 'model.layers.1.self_attn.v_proj', inFeatures: 24, outFeatures: 8 },
];

describe('SVD spectrum of ΔW = s·B·A', () => {
  it('equals the singular values of the dense update', () => {
    const ad = fakeAdapter(MODULES, { r: 6, alpha: 12, seed: 1 });
    for (const m of ad.modules) {
      const s = moduleScale(m, false);
      const dense = svd(fromArray(denseDelta(m, s), m.outFeatures, m.inFeatures)).s;
      const spec = moduleSpectrum(m, false);
      expect(spec.singularValues.length).toBe(6);
      spec.singularValues.forEach((v, i) => expect(v).toBeCloseTo(dense[i], 10));
      for (let i = 6; i < dense.length; i++) expect(dense[i]).toBeLessThan(1e-9);
      expect(spec.energy.at(-1)).toBeCloseTo(1, 12);
      expect(spec.rank99).toBeLessThanOrEqual(6);
    }
  });

  it('on a real adapter: Σσ² equals ‖s·B·A‖²_F computed densely', () => {
    const ad = readAdapterWeights(adapterDir('smollm2-360m-instruct-q_v-r8'));
    const m = ad.modules.find((x) => x.name === 'model.layers.0.self_attn.v_proj')!; // [320, 960], r 8
    const spec = moduleSpectrum(m, false);
    let fro2 = 0;
    for (const v of denseDelta(m, spec.scale)) fro2 += v * v;
    expect(spec.singularValues.reduce((a, v) => a + v * v, 0)).toBeCloseTo(fro2, 6);
    expect(spec.scale).toBe(2); // alpha 16 / r 8
    const whole = adapterSpectrum(ad.modules, false);
    expect(whole.modules.length).toBe(64);
    expect(whole.meanEffectiveRank).toBeGreaterThan(1);
    expect(whole.meanEffectiveRank).toBeLessThanOrEqual(8);
  });
});

describe('resize', () => {
  it('keeps ΔW’s top singular values and reports the energy kept', () => {
    const ad = fakeAdapter(MODULES, { r: 8, alpha: 16, seed: 2 });
    const res = resizeAdapter(ad, 3);
    expect(res.modules.every((m) => m.r === 3 && m.alpha === 6)).toBe(true); // scale 2 kept: alpha' = 2·3
    const tree = toPlain(res.tree) as Record<string, unknown>;
    expect([tree.r, tree.lora_alpha, tree.rank_pattern]).toEqual([3, 6, {}]);
    for (const [i, m] of ad.modules.entries()) {
      const before = moduleSpectrum(m, false);
      const after = moduleSpectrum(res.modules[i], false);
      for (let k = 0; k < 3; k++) expect(after.singularValues[k]).toBeCloseTo(before.singularValues[k], 5);
      const kept = before.singularValues.slice(0, 3).reduce((a, v) => a + v * v, 0) / before.singularValues.reduce((a, v) => a + v * v, 0);
      expect(res.report.find((x) => x.module === m.name)?.energyKept).toBeCloseTo(kept, 10);
      // Eckart–Young: the residual ‖ΔW − ΔW'‖²_F is the energy of the dropped values.
      const d0 = denseDelta(m, 2);
      const d1 = denseDelta(res.modules[i], 2);
      let resid = 0;
      for (let j = 0; j < d0.length; j++) resid += (d0[j] - d1[j]) ** 2;
      expect(resid).toBeCloseTo(before.singularValues.slice(3).reduce((a, v) => a + v * v, 0), 4);
    }
  });

  it('keeps the scale under rsLoRA and refuses a rank that is not lower', () => {
    const ad = fakeAdapter(MODULES.slice(0, 1), { r: 8, alpha: 16, seed: 3, rslora: true });
    const res = resizeAdapter(ad, 2);
    expect(moduleScale(res.modules[0], true)).toBeCloseTo(16 / Math.sqrt(8), 12);
    expect(() => resizeAdapter(ad, 8)).toThrow(/not below the adapter's rank 8/);
    expect(() => resizeAdapter(ad, 0)).toThrow(/whole number/);
  });
});

describe('combine', () => {
  it('A with weight 1 and B with weight 0 equals A', () => {
    const a = fakeAdapter(MODULES, { r: 4, alpha: 8, seed: 4 });
    const b = fakeAdapter(MODULES, { r: 6, alpha: 6, seed: 5 });
    const res = combineAdapters([
      { adapter: a, weight: 1 },
      { adapter: b, weight: 0 },
    ], { baseModel: 'test/base' });
    expect(res.modules.length).toBe(4);
    for (const [i, m] of res.modules.entries()) {
      expect(m.r).toBe(4);
      expect(m.alpha).toBe(8);
      expect(Buffer.from(m.a.buffer).equals(Buffer.from(a.modules[i].a.buffer))).toBe(true);
      expect(Buffer.from(m.b.buffer).equals(Buffer.from(a.modules[i].b.buffer))).toBe(true);
    }
  });

  it('is the exact weighted sum of the updates (different ranks, scales and a negative weight)', () => {
    const a = fakeAdapter(MODULES, { r: 4, alpha: 8, seed: 6 });
    const b = fakeAdapter(MODULES.slice(0, 3), { r: 6, alpha: 3, seed: 7, rslora: true });
    const res = combineAdapters([
      { adapter: a, weight: 0.7 },
      { adapter: b, weight: -0.4 },
    ], { baseModel: 'test/base' });
    for (const m of res.modules) {
      const ma = a.modules.find((x) => x.name === m.name)!;
      const mb = b.modules.find((x) => x.name === m.name);
      const want = denseDelta(ma, 0.7 * moduleScale(ma, false));
      if (mb) {
        const db = denseDelta(mb, -0.4 * moduleScale(mb, true));
        for (let i = 0; i < want.length; i++) want[i] += db[i];
      }
      const got = denseDelta(m, moduleScale(m, false));
      expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThan(1e-6);
      expect(m.r).toBe(mb ? 10 : 4);
    }
    // the module only in A keeps rank 4: recorded in rank_pattern
    const settings = settingsFromTree('x', res.tree);
    expect(settings.rankPattern).toEqual({ 'model.layers.1.self_attn.v_proj': 4 });
    expect(settings.rslora).toBe(false);
  });

  it('with a target rank, cuts each combined update by truncated SVD', () => {
    const a = fakeAdapter(MODULES, { r: 4, alpha: 8, seed: 8 });
    const b = fakeAdapter(MODULES, { r: 4, alpha: 8, seed: 9 });
    const full = combineAdapters([
      { adapter: a, weight: 1 },
      { adapter: b, weight: 1 },
    ], { baseModel: 'test/base' });
    const cut = combineAdapters([
      { adapter: a, weight: 1 },
      { adapter: b, weight: 1 },
    ], { baseModel: 'test/base', rank: 5 });
    for (const [i, m] of cut.modules.entries()) {
      expect(m.r).toBe(5);
      const sFull = moduleSpectrum(full.modules[i], false).singularValues;
      const sCut = moduleSpectrum(m, false).singularValues;
      for (let k = 0; k < 5; k++) expect(sCut[k]).toBeCloseTo(sFull[k], 5);
      expect(cut.report[i].energyKept).toBeLessThan(1);
      expect(cut.report[i].concatRank).toBe(8);
    }
  });

  it('refuses adapters of different base shapes and all-zero weights', () => {
    const a = fakeAdapter(MODULES, { r: 4, alpha: 8, seed: 10 });
    const b = fakeAdapter([{ ...MODULES[0], inFeatures: 32 }], { r: 4, alpha: 8, seed: 11 });
    expect(() => combineAdapters([{ adapter: a, weight: 1 }, { adapter: b, weight: 1 }], { baseModel: 'x' })).toThrow(/different base models/);
    expect(() => combineAdapters([{ adapter: a, weight: 0 }, { adapter: a, weight: 0 }], { baseModel: 'x' })).toThrow(/every weight is 0/);
  });
});

describe('describeSelection', () => {
  const gpt2 = [0, 1].flatMap((l) => [`transformer.h.${l}.attn.c_attn`, `transformer.h.${l}.attn.c_proj`, `transformer.h.${l}.mlp.c_fc`, `transformer.h.${l}.mlp.c_proj`]);
  it('uses leaf names when they select exactly, two-part names when a leaf is ambiguous, else full paths', () => {
    expect(describeSelection(['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn'], gpt2, 2)).toEqual({ targets: ['c_attn'], layers: null });
    expect(describeSelection(['transformer.h.0.attn.c_proj', 'transformer.h.1.attn.c_proj'], gpt2, 2)).toEqual({ targets: ['attn.c_proj'], layers: null });
    expect(describeSelection(['transformer.h.1.mlp.c_fc'], gpt2, 2)).toEqual({ targets: ['c_fc'], layers: [1] });
    expect(describeSelection(['transformer.h.0.attn.c_attn', 'transformer.h.1.mlp.c_fc'], gpt2, 2)).toEqual({
      targets: ['transformer.h.0.attn.c_attn', 'transformer.h.1.mlp.c_fc'],
      layers: null,
    });
  });
});
