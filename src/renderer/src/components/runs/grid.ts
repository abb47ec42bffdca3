/**
 * The new-run page's module × layer grid and how a selection maps to a run config.
 *
 * A config names what to adapt the PEFT way: `targets` (each matches a module whose path equals
 * it or ends with `.<target>`) and `layers` (PEFT's layers_to_transform, or 'all'). A rectangular
 * selection (the same modules in every chosen layer) is written as module names plus a layer
 * list. Any other selection is written exactly too: modules chosen in every selected layer keep
 * their name, and each remaining cell becomes its own suffix target, e.g. `layers.3.self_attn.q_proj`
 * (GPT-2: `h.3.attn.c_proj`), which matches exactly that module under PEFT's suffix rule.
 *
 * A selection is a flat array of booleans, index `layer * columns + column`.
 */
import type { LoraModuleInfo } from '../../../../shared/contract';

export type ModuleGroup = 'attention' | 'mlp' | 'other';

export interface GridColumn {
  /** Leaf name, as PEFT users write it (q_proj, c_proj). */
  name: string;
  /** Path inside a layer (self_attn.q_proj, mlp.c_proj). */
  module: string;
  /** What `targets` holds for the whole column: the leaf name when no other column shares it. */
  target: string;
  group: ModuleGroup;
  inFeatures: number;
  outFeatures: number;
}

export type Selection = readonly boolean[];

export interface TargetChoice {
  targets: string[];
  layers: 'all' | number[];
}

/** Decoder layers sit under `model.layers.N` (Llama, Qwen2, Mistral) or `transformer.h.N` (GPT-2). */
export function layerPath(modelType: string): string {
  return modelType === 'gpt2' ? 'transformer.h' : 'model.layers';
}

function groupOf(module: string): ModuleGroup {
  if (/(^|\.)(self_attn|attn|attention)\./.test(module)) return 'attention';
  if (/(^|\.)(mlp|feed_forward|ffn)\./.test(module)) return 'mlp';
  return 'other';
}

export function gridColumns(modules: readonly LoraModuleInfo[]): GridColumn[] {
  return modules.map((m) => {
    const shared = modules.filter((x) => x.name === m.name).length > 1;
    return { name: m.name, module: m.module, target: shared ? m.module : m.name, group: groupOf(m.module), inFeatures: m.inFeatures, outFeatures: m.outFeatures };
  });
}

export function emptySelection(layers: number, columns: number): boolean[] {
  return new Array<boolean>(layers * columns).fill(false);
}

export function selectedCount(sel: Selection): number {
  return sel.reduce((n, on) => n + (on ? 1 : 0), 0);
}

export function isSelected(sel: Selection, columns: number, layer: number, column: number): boolean {
  return sel[layer * columns + column] === true;
}

export function toggleCell(sel: Selection, columns: number, layer: number, column: number): boolean[] {
  return setCell(sel, columns, layer, column, !isSelected(sel, columns, layer, column));
}

export function setCell(sel: Selection, columns: number, layer: number, column: number, on: boolean): boolean[] {
  const next = [...sel];
  next[layer * columns + column] = on;
  return next;
}

/** Selects the whole row, or clears it when it was already full. */
export function toggleRow(sel: Selection, columns: number, layer: number): boolean[] {
  const next = [...sel];
  const full = Array.from({ length: columns }, (_, c) => sel[layer * columns + c]).every(Boolean);
  for (let c = 0; c < columns; c++) next[layer * columns + c] = !full;
  return next;
}

/** Selects the whole column, or clears it when it was already full. */
export function toggleColumn(sel: Selection, columns: number, column: number): boolean[] {
  const layers = sel.length / columns;
  const next = [...sel];
  const full = Array.from({ length: layers }, (_, l) => sel[l * columns + column]).every(Boolean);
  for (let l = 0; l < layers; l++) next[l * columns + column] = !full;
  return next;
}

/** Every cell of the chosen columns in the chosen layers. */
export function rectangle(layers: number, columns: readonly GridColumn[], pickColumn: (c: GridColumn) => boolean, pickLayer: (l: number) => boolean): boolean[] {
  const sel = emptySelection(layers, columns.length);
  for (let l = 0; l < layers; l++) {
    if (!pickLayer(l)) continue;
    columns.forEach((c, i) => {
      if (pickColumn(c)) sel[l * columns.length + i] = true;
    });
  }
  return sel;
}

export type GridPreset = 'attention' | 'mlp' | 'all' | 'last';

/**
 * The presets' selections. "Last N layers" keeps the modules already chosen (all of them when
 * none is) and moves them to the last `n` layers.
 */
export function presetSelection(preset: GridPreset, layers: number, columns: readonly GridColumn[], current: Selection, n = 1): boolean[] {
  switch (preset) {
    case 'attention':
      return rectangle(layers, columns, (c) => c.group === 'attention', () => true);
    case 'mlp':
      return rectangle(layers, columns, (c) => c.group === 'mlp', () => true);
    case 'all':
      return rectangle(layers, columns, () => true, () => true);
    case 'last': {
      const chosen = new Set(usedColumns(current, columns.length));
      const first = Math.max(0, layers - Math.max(1, Math.floor(n)));
      return rectangle(layers, columns, (c) => chosen.size === 0 || chosen.has(columns.indexOf(c)), (l) => l >= first);
    }
  }
}

function usedRows(sel: Selection, columns: number): number[] {
  const rows: number[] = [];
  for (let l = 0; l < sel.length / columns; l++) {
    for (let c = 0; c < columns; c++) {
      if (sel[l * columns + c]) {
        rows.push(l);
        break;
      }
    }
  }
  return rows;
}

function usedColumns(sel: Selection, columns: number): number[] {
  const cols: number[] = [];
  for (let c = 0; c < columns; c++) {
    for (let l = 0; l < sel.length / columns; l++) {
      if (sel[l * columns + c]) {
        cols.push(c);
        break;
      }
    }
  }
  return cols;
}

/** The same modules in every layer that has any: expressible as names × a layer list. */
export function isRectangular(sel: Selection, columns: number): boolean {
  const rows = usedRows(sel, columns);
  const cols = usedColumns(sel, columns);
  return rows.every((l) => cols.every((c) => sel[l * columns + c]));
}

/** The config's targets and layers for a selection; null when nothing is selected. */
export function selectionToTargets(sel: Selection, columns: readonly GridColumn[], modelType: string): TargetChoice | null {
  const n = columns.length;
  const numLayers = sel.length / n;
  const rows = usedRows(sel, n);
  if (rows.length === 0) return null;
  const layers: TargetChoice['layers'] = rows.length === numLayers ? 'all' : rows;
  const container = layerPath(modelType).split('.').at(-1)!;
  const targets: string[] = [];
  for (const c of usedColumns(sel, n)) {
    const col = columns[c];
    if (rows.every((l) => sel[l * n + c])) targets.push(col.target);
    else for (const l of rows) if (sel[l * n + c]) targets.push(`${container}.${l}.${col.module}`);
  }
  return { targets, layers };
}

/** PEFT's rule for target_modules entries: the module path equals it or ends with `.target`. */
export function matchesTarget(modulePath: string, target: string): boolean {
  return modulePath === target || modulePath.endsWith('.' + target);
}

export interface DecodedTargets {
  selection: boolean[];
  /** Targets that name no module of this model. */
  unmatched: string[];
  /** Layer indices beyond this model's layers. */
  outOfRange: number[];
}

/** The cells a config's targets and layers adapt in this model (for "start from a past run"). */
export function targetsToSelection(targets: readonly string[], layers: 'all' | readonly number[], columns: readonly GridColumn[], numLayers: number, modelType: string): DecodedTargets {
  const prefix = layerPath(modelType);
  const sel = emptySelection(numLayers, columns.length);
  const inLayers = layers === 'all' ? null : new Set(layers);
  const matched = new Set<string>();
  for (let l = 0; l < numLayers; l++) {
    columns.forEach((col, c) => {
      const path = `${prefix}.${l}.${col.module}`;
      for (const t of targets) {
        if (!matchesTarget(path, t)) continue;
        matched.add(t);
        if (!inLayers || inLayers.has(l)) sel[l * columns.length + c] = true;
      }
    });
  }
  return {
    selection: sel,
    unmatched: targets.filter((t) => !matched.has(t)),
    outOfRange: layers === 'all' ? [] : layers.filter((l) => l < 0 || l >= numLayers),
  };
}

/** "12 modules in 4 layers" and similar, for the grid's summary line. */
export function describeSelection(sel: Selection, columns: number): { cells: number; layers: number; modules: number } {
  return { cells: selectedCount(sel), layers: usedRows(sel, columns).length, modules: usedColumns(sel, columns).length };
}
