/**
 * The adapter page's helpers. The resize preview (energy kept per rank, read off the spectrum) is
 * checked against what the engine's resize actually keeps, on a random adapter shaped like
 * tiny-random-llama's; the module paths are those of the fixture architectures.
 */
import { describe, expect, it } from 'vitest';
import { adapterSpectrum } from '../../src/main/adapters/spectrum';
import { resizeAdapter } from '../../src/main/adapters/resize';
import { fakeAdapter } from '../main/adapters/helpers';
import { LLAMA_MODULES } from '../main/export/helpers';
import type { AdapterSpectrumInfo, AdapterSummary, ExportRecord } from '../../src/shared/contract';
import {
  combinedRank,
  defaultExportPath,
  energyAt,
  exportAdvice,
  exportName,
  exportResult,
  formatEnergy,
  formatLayers,
  importAdvice,
  joinPath,
  parentPath,
  rankKeeping,
  resizePreview,
  sameBase,
  slugify,
  splitModule,
  writtenFiles,
} from '../../src/renderer/src/components/adapters/format';

function spectrumOf(r: number, seed: number): { info: AdapterSpectrumInfo; weights: ReturnType<typeof fakeAdapter> } {
  const weights = fakeAdapter(LLAMA_MODULES, { r, alpha: 2 * r, seed });
  return { info: { adapterId: 1, ...adapterSpectrum(weights.modules, false) }, weights };
}

describe('adapter page helpers', () => {
  it('writes layer lists as ranges', () => {
    expect(formatLayers(null)).toBe('all layers');
    expect(formatLayers([])).toBe('none');
    expect(formatLayers([3])).toBe('3');
    expect(formatLayers([0, 1, 2, 5, 7, 8])).toBe('0–2, 5, 7–8');
    expect(formatLayers([8, 7, 0, 1, 1])).toBe('0–1, 7–8');
  });

  it('splits module paths of Llama and GPT-2 into layer and module', () => {
    expect(splitModule('model.layers.12.self_attn.q_proj')).toEqual({ layer: 12, name: 'self_attn.q_proj' });
    expect(splitModule('base_model.model.model.layers.0.mlp.down_proj')).toEqual({ layer: 0, name: 'mlp.down_proj' });
    expect(splitModule('transformer.h.1.attn.c_attn')).toEqual({ layer: 1, name: 'attn.c_attn' });
    expect(splitModule('lm_head')).toEqual({ layer: null, name: 'lm_head' });
  });

  it('previews exactly the energy the engine’s resize keeps', () => {
    const { info, weights } = spectrumOf(6, 7);
    for (const k of [1, 3, 5]) {
      const preview = resizePreview(info, k);
      const done = resizeAdapter(weights, k);
      expect(preview.meanEnergy).toBeCloseTo(done.meanEnergyKept, 10);
      expect(preview.minEnergy).toBeCloseTo(done.minEnergyKept, 10);
      for (const m of done.report) expect(energyAt(info.modules.find((s) => s.module === m.module)!, k)).toBeCloseTo(m.energyKept, 10);
      // The engine's own mean curve agrees with the preview.
      expect(info.meanEnergyAtRank[k - 1]).toBeCloseTo(preview.meanEnergy, 10);
    }
    const worst = resizePreview(info, 1);
    expect(worst.minModule).not.toBeNull();
    expect(worst.below90).toBeGreaterThan(0);
  });

  it('energy shares keep one decimal so nearly all does not read as all', () => {
    expect(formatEnergy(0.9961)).toBe('99.6 %');
    expect(formatEnergy(0.99996)).toBe('100 %');
    expect(formatEnergy(1)).toBe('100 %');
    expect(formatEnergy(0.05)).toBe('5.0 %');
    expect(formatEnergy(Number.NaN)).toBe('—');
  });

  it('energy at a rank: 0 below 1, the full energy at or above the rank', () => {
    const m = { energy: [0.5, 0.8, 1] };
    expect(energyAt(m, 0)).toBe(0);
    expect(energyAt(m, 2)).toBe(0.8);
    expect(energyAt(m, 3)).toBe(1);
    expect(energyAt(m, 9)).toBe(1);
  });

  it('finds the smallest rank that keeps a share of the energy in every module', () => {
    const { info } = spectrumOf(8, 3);
    const k = rankKeeping(info, 0.9);
    expect(resizePreview(info, k).minEnergy).toBeGreaterThanOrEqual(0.9 - 1e-12);
    if (k > 1) expect(resizePreview(info, k - 1).minEnergy).toBeLessThan(0.9);
    expect(rankKeeping(info, 1)).toBe(8);
  });

  it('combined rank: the ranks side by side unless truncated below them', () => {
    expect(combinedRank([4, 8], null)).toBe(12);
    expect(combinedRank([4, 8], 6)).toBe(6);
    expect(combinedRank([4, 8], 20)).toBe(12);
  });

  it('combines only adapters of the same base model', () => {
    const a = { baseModelId: 1, baseModelName: 'm' } as AdapterSummary;
    expect(sameBase(a, { baseModelId: 1, baseModelName: 'other label' } as AdapterSummary)).toBe(true);
    expect(sameBase(a, { baseModelId: 2, baseModelName: 'm' } as AdapterSummary)).toBe(false);
    expect(sameBase(a, { baseModelId: null, baseModelName: 'm' } as AdapterSummary)).toBe(false);
    expect(sameBase({ baseModelId: null, baseModelName: '/x' } as AdapterSummary, { baseModelId: null, baseModelName: '/x' } as AdapterSummary)).toBe(true);
  });

  it('names exports by kind and never reuses a destination already written', () => {
    expect(slugify('My Adapter · step 40')).toBe('my-adapter-step-40');
    expect(slugify('···')).toBe('adapter');
    expect(exportName('tiny r4', { kind: 'peft', dtype: 'auto', ggufType: 'f16' })).toBe('tiny-r4-peft');
    expect(exportName('tiny r4', { kind: 'merged', dtype: 'bf16', ggufType: 'f16' })).toBe('tiny-r4-merged-bf16');
    expect(exportName('tiny r4', { kind: 'gguf', dtype: 'auto', ggufType: 'q8_0' })).toBe('tiny-r4-q8_0.gguf');
    const c = { kind: 'gguf', dtype: 'auto', ggufType: 'f16' } as const;
    expect(defaultExportPath('/data/exports/', 'a', c, new Set())).toBe('/data/exports/a-f16.gguf');
    expect(defaultExportPath('/data/exports', 'a', c, new Set(['/data/exports/a-f16.gguf', '/data/exports/a-f16-2.gguf']))).toBe('/data/exports/a-f16-3.gguf');
    expect(joinPath('C:\\Users\\me\\data', 'exports')).toBe('C:\\Users\\me\\data\\exports');
    expect(parentPath('/data/exports/a.gguf')).toBe('/data/exports');
    expect(parentPath('/a.gguf')).toBe('/');
  });

  it('reads an export’s result by its kind and lists what it wrote', () => {
    const rec = {
      kind: 'gguf',
      result: { kind: 'gguf', file: '/x/m.gguf', bytes: 2048, modelfile: { file: '/x/Modelfile', translated: false, stops: [] } },
    } as unknown as ExportRecord;
    const v = exportResult(rec);
    expect(v?.kind).toBe('gguf');
    expect(writtenFiles(v!)).toEqual({ files: [{ name: 'm.gguf', bytes: 2048 }, { name: 'Modelfile', bytes: null }], totalBytes: 2048 });
    expect(exportResult({ kind: 'merged', result: null })).toBeNull();
    expect(exportResult({ kind: 'merged', result: { kind: 'peft' } })).toBeNull();
  });

  it('advises by the cause the engine names', () => {
    expect(exportAdvice('the disk is full: not enough space in /mnt to write the export')).toMatch(/Free some space/);
    expect(exportAdvice('permission denied writing to /root')).toMatch(/can write to/);
    expect(exportAdvice('/x already exists; choose another destination')).toMatch(/Change the destination/);
    expect(importAdvice(['task_type is SEQ_CLS (sequence classification)', 'it contains a classification head … modules_to_save'])).toMatch(/classification/);
    expect(importAdvice(['layer sizes differ from tiny-gpt2'])).toMatch(/base model the adapter was trained on/);
  });
});
