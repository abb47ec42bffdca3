/**
 * PEFT export: a folder `PeftModel.from_pretrained(base, folder)` loads — adapter_config.json and
 * adapter_model.safetensors exactly as PEFT writes them (peft-files.ts), the tokenizer files with
 * the training chat template, and a README.md model card (PEFT's front matter: base_model,
 * library_name: peft) stating the base model and the training settings.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WritableDType } from '../ml/safetensors';
import { writeFolderAtomically, type JobContext } from '../export/job';
import { writeTokenizerFiles, type WrittenFile } from '../export/merged';
import { newLoraConfigTree, readAdapterWeights, writeAdapterFiles, ADAPTER_CONFIG, ADAPTER_WEIGHTS } from './peft-files';
import { pyFloat } from './pyjson';

export interface PeftExportRequest {
  adapterDir: string;
  /** Where the tokenizer files come from when the adapter folder has none. */
  baseDir: string | null;
  outDir: string;
  chatTemplate: string | null;
  adapterName: string;
  baseModelName: string;
  /** Lines for the README's training section (run settings, dataset, steps). */
  trainingNotes?: string[];
  /**
   * Fill in the adapter_config.json fields PEFT 0.17 writes that the stored config lacks (studio
   * adapters). Imported configs are kept as their PEFT version wrote them.
   */
  completeConfig?: boolean;
}

export interface PeftExportResult {
  kind: 'peft';
  outDir: string;
  files: WrittenFile[];
  modules: number;
  dtype: string;
  chatTemplate: 'training' | 'base' | 'none';
}

export async function exportPeft(req: PeftExportRequest, ctx: JobContext): Promise<PeftExportResult> {
  const adapter = readAdapterWeights(req.adapterDir);
  const tree = { ...adapter.config.tree };
  if (req.completeConfig) {
    const defaults = newLoraConfigTree({ baseModel: '', r: 1, alpha: 1, dropout: 0, targets: [], layers: null, rslora: false, fanInFanOut: false });
    for (const [k, v] of Object.entries(defaults)) if (!(k in tree)) tree[k] = v;
  }
  // PEFT writes lora_dropout as a float (0.0, not 0)
  if (typeof tree.lora_dropout === 'number') tree.lora_dropout = pyFloat(tree.lora_dropout);
  const dtype: WritableDType = adapter.dtype === 'F16' || adapter.dtype === 'BF16' ? adapter.dtype : 'F32';
  return writeFolderAtomically(req.outDir, (tmp) => {
    ctx.checkCancelled();
    writeAdapterFiles(tmp, tree, adapter.modules, dtype);
    const files: WrittenFile[] = [ADAPTER_CONFIG, ADAPTER_WEIGHTS].map((name) => ({ name, bytes: fs.statSync(path.join(tmp, name)).size }));
    ctx.progress(files[1].bytes, files[1].bytes, 'write');
    const hasOwnTokenizer = fs.existsSync(path.join(req.adapterDir, 'tokenizer.json')) || fs.existsSync(path.join(req.adapterDir, 'tokenizer_config.json'));
    const tokenizerFrom = hasOwnTokenizer ? req.adapterDir : req.baseDir;
    const chatTemplate = tokenizerFrom ? writeTokenizerFiles(tokenizerFrom, tmp, req.chatTemplate, files) : 'none';
    const s = adapter.config.settings;
    const readme = [
      '---',
      `base_model: ${req.baseModelName}`,
      'library_name: peft',
      'tags:',
      '- lora',
      '- lora-studio',
      '---',
      '',
      `# ${req.adapterName}`,
      '',
      `A LoRA adapter for **${req.baseModelName}**, exported by LoRA Studio in the PEFT format.`,
      '',
      '## Adapter',
      '',
      `- Rank r = ${s.r}, lora_alpha = ${s.alpha}${s.rslora ? ' (rsLoRA)' : ''}, dropout ${s.dropout}`,
      `- Target modules: ${Array.isArray(s.targets) ? s.targets.join(', ') : String(s.targets)}`,
      `- Layers: ${s.layers ? s.layers.join(', ') : 'all'}`,
      Object.keys(s.rankPattern).length ? `- rank_pattern: ${JSON.stringify(s.rankPattern)}` : null,
      Object.keys(s.alphaPattern).length ? `- alpha_pattern: ${JSON.stringify(s.alphaPattern)}` : null,
      `- ${adapter.modules.length} adapted projections, weights stored as ${dtype}`,
      `- Chat template: ${chatTemplate === 'training' ? 'the one used in training (in tokenizer_config.json / chat_template.jinja)' : chatTemplate === 'base' ? "the base model's" : 'none'}`,
      ...(req.trainingNotes?.length ? ['', '## Training', '', ...req.trainingNotes.map((l) => `- ${l}`)] : []),
      '',
      '## Use',
      '',
      '```python',
      'from peft import PeftModel',
      'from transformers import AutoModelForCausalLM, AutoTokenizer',
      `base = AutoModelForCausalLM.from_pretrained("${req.baseModelName}")`,
      `model = PeftModel.from_pretrained(base, "path/to/${path.basename(req.outDir)}")`,
      `tokenizer = AutoTokenizer.from_pretrained("path/to/${path.basename(req.outDir)}")`,
      '```',
      '',
    ]
      .filter((l): l is string => l !== null)
      .join('\n');
    fs.writeFileSync(path.join(tmp, 'README.md'), readme);
    files.push({ name: 'README.md', bytes: Buffer.byteLength(readme) });
    return { kind: 'peft' as const, outDir: req.outDir, files, modules: adapter.modules.length, dtype, chatTemplate };
  });
}
