/**
 * The new-run grid's mapping to a run config, checked against the engine's own module selection
 * rule (src/main/ml/lora/spec.ts) on the real module paths of tiny-random-llama and tiny-gpt2: any
 * selection, rectangular or not, encodes to targets + layers that adapt exactly the chosen cells.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigJson } from '../../src/main/ml/config';
import { inspectModelFolder } from '../../src/main/ml/loader';
import { selectModules } from '../../src/main/ml/lora/spec';
import { createModel } from '../../src/main/ml/models/registry';
import {
  emptySelection,
  gridColumns,
  isRectangular,
  presetSelection,
  selectionToTargets,
  targetsToSelection,
  toggleCell,
  toggleColumn,
  toggleRow,
  type GridColumn,
} from '../../src/renderer/src/components/runs/grid';

const fixtures = path.resolve(__dirname, '../../../shared/fixtures/models');

const linear = new Map<string, ReturnType<ReturnType<typeof createModel>['linearModules']>>();

async function columnsOf(name: string) {
  const dir = path.join(fixtures, name);
  const card = inspectModelFolder(dir);
  const modules = card.loraTargets.map((t) => ({ name: t.peftName, module: t.module, inFeatures: t.inFeatures, outFeatures: t.outFeatures }));
  // The model's real module paths (a skeleton, no weights read), for the engine's selection rule.
  linear.set(card.modelType, createModel(readConfigJson(dir)).linearModules());
  return { columns: gridColumns(modules), layers: card.dims.numLayers, modelType: card.modelType };
}

/** The cells the engine adapts for these targets and layers: its own selectModules on the real paths. */
function engineCells(columns: GridColumn[], numLayers: number, modelType: string, targets: string[], layers: 'all' | number[]): boolean[] {
  const spec = { r: 4, alpha: 8, dropout: 0, rslora: false, targets, layers: layers === 'all' ? null : layers, rankPattern: {}, alphaPattern: {}, init: 'default' as const };
  const sel = emptySelection(numLayers, columns.length);
  for (const m of selectModules(spec, linear.get(modelType)!, numLayers)) {
    const [, layer, module] = /^(?:model\.layers|transformer\.h)\.(\d+)\.(.+)$/.exec(m.name)!;
    sel[Number(layer) * columns.length + columns.findIndex((c) => c.module === module)] = true;
  }
  return sel;
}

describe('grid columns', () => {
  it('names Llama modules by leaf and groups attention and MLP', async () => {
    const { columns } = await columnsOf('tiny-random-llama');
    expect(columns.map((c) => c.target)).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(columns.map((c) => c.group)).toEqual(['attention', 'attention', 'attention', 'attention', 'mlp', 'mlp', 'mlp']);
  });

  it('tells GPT-2’s two c_proj apart by their path', async () => {
    const { columns } = await columnsOf('tiny-gpt2');
    expect(columns.map((c) => c.target)).toEqual(['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj']);
  });
});

describe('selection → config → engine', () => {
  it('writes a rectangle as module names and a layer list', async () => {
    const { columns, layers, modelType } = await columnsOf('tiny-random-llama');
    const sel = presetSelection('attention', layers, columns, emptySelection(layers, columns.length));
    expect(isRectangular(sel, columns.length)).toBe(true);
    expect(selectionToTargets(sel, columns, modelType)).toEqual({ targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], layers: 'all' });
    const last = presetSelection('last', layers, columns, sel, 1);
    expect(selectionToTargets(last, columns, modelType)).toEqual({ targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], layers: [1] });
  });

  it('writes any other selection exactly, cell by cell where needed', async () => {
    for (const name of ['tiny-random-llama', 'tiny-gpt2']) {
      const { columns, layers, modelType } = await columnsOf(name);
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let trial = 0; trial < 200; trial++) {
        const sel = emptySelection(layers, columns.length).map(() => rand() < 0.4);
        const choice = selectionToTargets(sel, columns, modelType);
        if (!sel.some(Boolean)) {
          expect(choice).toBeNull();
          continue;
        }
        expect(engineCells(columns, layers, modelType, choice!.targets, choice!.layers)).toEqual(sel);
        // And back: the page shows a past run's selection as it was.
        expect(targetsToSelection(choice!.targets, choice!.layers, columns, layers, modelType)).toEqual({ selection: sel, unmatched: [], outOfRange: [] });
      }
    }
  });

  it('GPT-2: the MLP c_proj alone adapts only that module', async () => {
    const { columns, layers, modelType } = await columnsOf('tiny-gpt2');
    const sel = toggleColumn(emptySelection(layers, columns.length), columns.length, 3);
    const choice = selectionToTargets(sel, columns, modelType)!;
    expect(choice).toEqual({ targets: ['mlp.c_proj'], layers: 'all' });
    expect(engineCells(columns, layers, modelType, choice.targets, choice.layers)).toEqual(sel);
  });
});

describe('editing the grid', () => {
  it('toggles cells, whole rows and whole columns', () => {
    const cols = 3;
    let sel = emptySelection(2, cols);
    sel = toggleCell(sel, cols, 1, 2);
    expect(sel).toEqual([false, false, false, false, false, true]);
    sel = toggleRow(sel, cols, 1);
    expect(sel).toEqual([false, false, false, true, true, true]);
    sel = toggleRow(sel, cols, 1);
    expect(sel).toEqual([false, false, false, false, false, false]);
    sel = toggleColumn(sel, cols, 0);
    expect(sel).toEqual([true, false, false, true, false, false]);
    expect(isRectangular(toggleCell(sel, cols, 0, 1), cols)).toBe(false);
  });

  it('reports targets and layers a model does not have', async () => {
    const { columns, layers, modelType } = await columnsOf('tiny-random-llama');
    const d = targetsToSelection(['q_proj', 'c_attn'], [0, 5], columns, layers, modelType);
    expect(d.unmatched).toEqual(['c_attn']);
    expect(d.outOfRange).toEqual([5]);
    expect(d.selection.filter(Boolean)).toHaveLength(1);
  });
});
