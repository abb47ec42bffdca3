/** Adapter folders for the tiny fixture models, written to a temp dir. */
import fs from 'node:fs';
import path from 'node:path';
import { writeAdapterFiles } from '../../../src/main/adapters/peft-files';
import { fakeAdapter, type FakeModule } from '../adapters/helpers';

export const LLAMA_MODULES: FakeModule[] = [0, 1].flatMap((l) => [
  { name: `model.layers.${l}.self_attn.q_proj`, inFeatures: 16, outFeatures: 16 },
  { name: `model.layers.${l}.self_attn.k_proj`, inFeatures: 16, outFeatures: 16 },
  { name: `model.layers.${l}.self_attn.v_proj`, inFeatures: 16, outFeatures: 16 },
  { name: `model.layers.${l}.mlp.down_proj`, inFeatures: 64, outFeatures: 16 },
]);

export const GPT2_MODULES: FakeModule[] = [0, 1].flatMap((l) => [
  { name: `transformer.h.${l}.attn.c_attn`, inFeatures: 2, outFeatures: 6 },
  { name: `transformer.h.${l}.mlp.c_proj`, inFeatures: 8, outFeatures: 2 },
]);

/** An adapter folder with random (non-zero) factors, so merging visibly changes the model. */
export function writeTestAdapter(dir: string, modules: FakeModule[], opts: { r?: number; alpha?: number; seed: number; scale?: number; fanInFanOut?: boolean }): string {
  const ad = fakeAdapter(modules, { r: opts.r ?? 4, alpha: opts.alpha ?? 8, seed: opts.seed });
  const k = opts.scale ?? 1;
  for (const m of ad.modules) {
    for (let i = 0; i < m.a.length; i++) m.a[i] *= k;
    for (let i = 0; i < m.b.length; i++) m.b[i] *= k;
  }
  if (opts.fanInFanOut) ad.config.tree.fan_in_fan_out = true;
  fs.mkdirSync(dir, { recursive: true });
  writeAdapterFiles(dir, ad.config.tree, ad.modules);
  return dir;
}

export function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

export function tmpChildren(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.') && n.includes('partial'));
}

export { path };
