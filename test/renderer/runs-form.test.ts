/** The new-run form ↔ run config, and the compare view's settings table. */
import { describe, expect, it } from 'vitest';
import { RunConfig } from '../../src/shared/contract/runs';
import { PresetConfig } from '../../src/shared/contract/runs-library';
import { configDiff } from '../../src/renderer/src/components/runs/config-diff';
import { configToForm, defaultForm, formToConfig, settingsOf } from '../../src/renderer/src/components/runs/run-form';

describe('run form', () => {
  it('shows the engine’s own defaults', () => {
    const parsed = RunConfig.parse(formToConfig({ ...defaultForm(), modelId: 1, datasetId: 2 }, { targets: ['q_proj'], layers: 'all' }));
    expect(parsed).toEqual(RunConfig.parse({ model: 1, dataset: 2, targets: ['q_proj'] }));
  });

  it('needs a model and a dataset', () => {
    expect(formToConfig(defaultForm(), null)).toBeNull();
  });

  it('round-trips a stored config through the form', () => {
    const config = RunConfig.parse({
      name: 'r16 attention',
      model: 3,
      dataset: 4,
      datasetVersion: 2,
      template: 'chatml',
      targets: ['q_proj', 'v_proj'],
      layers: [0, 1],
      rank: 16,
      alpha: 32,
      rslora: true,
      init: 'pissa',
      lr: 1e-3,
      scheduler: 'linear',
      warmup: 5,
      maxSteps: 40,
      evalSplit: 0.2,
      evalEvery: 10,
      checkpointEvery: 20,
      sampleEvery: 10,
      samplePrompts: ['2+2=', 'Hello'],
      seed: 7,
      backend: 'cpu',
    });
    const form = configToForm(config, defaultForm());
    expect(form).toMatchObject({ modelId: 3, datasetId: 4, datasetVersion: 2, stopBy: 'steps', maxSteps: 40, evalSource: 'fraction', samplePrompts: '2+2=\nHello' });
    const back = RunConfig.parse(formToConfig({ ...form, name: config.name! }, { targets: config.targets!, layers: config.layers }));
    expect(back).toEqual(config);
  });

  it('a preset keeps the settings and leaves model and dataset to the form', () => {
    const form = { ...defaultForm(), modelId: 1, datasetId: 1, rank: 4, sampleEvery: 5 };
    const preset = PresetConfig.parse(settingsOf(form, { targets: ['c_attn'], layers: 'all' }));
    // Sampling needs prompts: without any it is off.
    expect(preset.sampleEvery).toBe(0);
    const applied = configToForm(preset, { ...defaultForm(), modelId: 9, datasetId: 8 });
    expect(applied).toMatchObject({ modelId: 9, datasetId: 8, rank: 4 });
  });
});

describe('config diff', () => {
  it('lists differing fields first, with names for ids', () => {
    const a = RunConfig.parse({ model: 1, dataset: 1, rank: 4, lr: 2e-4 });
    const b = RunConfig.parse({ model: 1, dataset: 1, rank: 16, lr: 1e-3 });
    const rows = configDiff([a, b], { model: (v) => `model #${String(v)}` });
    expect(rows.slice(0, 2).map((r) => [r.label, r.values])).toEqual([
      ['Rank r', ['4', '16']],
      ['Learning rate', ['2e-4', '1e-3']],
    ]);
    expect(rows.find((r) => r.key === 'model')).toMatchObject({ values: ['model #1', 'model #1'], differs: false });
    expect(rows.filter((r) => r.differs)).toHaveLength(2);
  });
});
