/**
 * target_modules / layers_to_transform that select exactly a given set of modules under PEFT's
 * rules (suffix match on the module path; layer filter). A combined adapter can cover an uneven
 * set (q_proj everywhere from one input, v_proj in layer 0 from another); when no leaf-name
 * description fits, full module paths are listed, which PEFT matches exactly.
 */
import { layerIndexOf, matchesTarget } from '../ml/lora/spec';

export function describeSelection(selected: readonly string[], modelModules: readonly string[] | null, numLayers: number | null): { targets: string[]; layers: number[] | null } {
  const want = new Set(selected);
  const layerList = [...new Set(selected.map(layerIndexOf).filter((l): l is number => l !== null))].sort((a, b) => a - b);
  const allLayers = numLayers !== null && layerList.length === numLayers;
  for (const parts of [1, 2]) {
    if (!modelModules) break;
    const targets = [...new Set(selected.map((n) => n.split('.').slice(-parts).join('.')))].sort();
    for (const layers of allLayers ? [null, layerList] : [layerList]) {
      const picked = modelModules.filter((n) => targets.some((t) => matchesTarget(n, t)) && (layers === null || layers.includes(layerIndexOf(n) ?? -1)));
      if (picked.length === want.size && picked.every((n) => want.has(n))) return { targets, layers };
    }
  }
  return { targets: [...selected].sort(), layers: null };
}
