/**
 * Merged model export: a complete Hugging Face folder (config.json, generation_config.json,
 * tokenizer files carrying the training chat template, model.safetensors or shards + index) whose
 * weights are W + s·B·A. Written tensor by tensor through the safetensors writer, so memory stays
 * near one tensor; sharded like the original checkpoint (same shard names and grouping) or by a
 * size limit (model-0000N-of-0000M.safetensors, as transformers names them). Stored dtype: the
 * original's per tensor ('auto') or bf16/f16/f32 for all.
 *
 * Before the folder appears under its name it is reloaded and its logits compared with the base
 * model running the adapter unmerged (verify.ts). Any failure removes the temp folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { INDEX_FILE, SINGLE_FILE } from '../ml/checkpoint';
import type { DType } from '../ml/dtypes';
import { DTYPE_BYTES, numel, writeSafetensors, type TensorToWrite, type WritableDType } from '../ml/safetensors';
import { readAdapterWeights, type AdapterWeights } from '../adapters/peft-files';
import { ExportRefused, writeFolderAtomically, type JobContext } from './job';
import { MergeError, MergedTensorSource, planMerge, type MergePlan, type MergeTensor } from './merge';
import { checkPromptIds, compareLogits, exportedLogits, referenceLogits, type LogitsCheck, type StoredDtype } from './verify';

export type MergedDtype = 'auto' | 'bf16' | 'f16' | 'f32';

export interface MergedExportRequest {
  adapterDir: string;
  baseDir: string;
  outDir: string;
  dtype: MergedDtype;
  /** Shard by this many bytes; null/undefined: shard like the original checkpoint. */
  maxShardBytes?: number | null;
  /** The training chat template (Jinja); null keeps the base model's. */
  chatTemplate: string | null;
  /** For README.md. */
  adapterName: string;
  baseModelName: string;
  /** Reload and compare logits (default true). */
  verify?: boolean;
}

export interface WrittenFile {
  name: string;
  bytes: number;
}

export interface MergedExportResult {
  kind: 'merged';
  outDir: string;
  files: WrittenFile[];
  dtype: MergedDtype;
  storedDtypes: Record<string, number>;
  shards: number;
  tensors: number;
  mergedModules: number;
  skippedTensors: string[];
  totalBytes: number;
  chatTemplate: 'training' | 'base' | 'none';
  verification: LogitsCheck | null;
  verificationNote?: string;
}

const OUT_DTYPE: Record<Exclude<MergedDtype, 'auto'>, WritableDType> = { bf16: 'BF16', f16: 'F16', f32: 'F32' };
const TORCH_DTYPE: Record<WritableDType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const F16_MAX = 65504;
/** Above this many F32 bytes, two models would not fit comfortably for the logits check. */
const VERIFY_LIMIT_BYTES = 6 * 2 ** 30;

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.model', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'added_tokens.json'];

function storedDtype(src: DType, want: MergedDtype): WritableDType {
  if (want !== 'auto') return OUT_DTYPE[want];
  return src === 'F16' || src === 'BF16' ? src : 'F32';
}

interface Shard {
  file: string;
  tensors: MergeTensor[];
}

function planShards(plan: MergePlan, out: (t: MergeTensor) => WritableDType, maxShardBytes: number | null | undefined): Shard[] {
  if (maxShardBytes) {
    const groups: MergeTensor[][] = [[]];
    let size = 0;
    for (const t of plan.tensors) {
      const bytes = numel(t.shape) * DTYPE_BYTES[out(t)];
      if (size > 0 && size + bytes > maxShardBytes) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1].push(t);
      size += bytes;
    }
    if (groups.length === 1) return [{ file: SINGLE_FILE, tensors: groups[0] }];
    const n = String(groups.length).padStart(5, '0');
    return groups.map((g, i) => ({ file: `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`, tensors: g }));
  }
  const byFile = new Map<string, MergeTensor[]>();
  for (const t of plan.tensors) {
    const f = path.basename(t.file);
    byFile.set(f, [...(byFile.get(f) ?? []), t]);
  }
  if (!fs.existsSync(path.join(plan.baseDir, INDEX_FILE))) return [{ file: SINGLE_FILE, tensors: plan.tensors }];
  return [...byFile].map(([file, tensors]) => ({ file, tensors }));
}

export async function exportMerged(req: MergedExportRequest, ctx: JobContext): Promise<MergedExportResult> {
  if (req.maxShardBytes !== undefined && req.maxShardBytes !== null && !(req.maxShardBytes >= 1 << 20)) {
    throw new ExportRefused(`shard size must be at least 1 MiB, got ${req.maxShardBytes} bytes`);
  }
  const adapter = readAdapterWeights(req.adapterDir);
  const plan = planMerge(req.baseDir, adapter);
  const outType = (t: MergeTensor) => storedDtype(t.dtype, req.dtype);
  const shards = planShards(plan, outType, req.maxShardBytes);
  const totalBytes = plan.tensors.reduce((n, t) => n + numel(t.shape) * DTYPE_BYTES[outType(t)], 0);

  return writeFolderAtomically(req.outDir, async (tmp) => {
    const files: WrittenFile[] = [];
    const storedDtypes: Record<string, number> = {};
    const source = new MergedTensorSource(plan);
    let done = 0;
    try {
      for (const shard of shards) {
        ctx.checkCancelled();
        const tensors: TensorToWrite[] = [...shard.tensors]
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((t) => {
            const dtype = outType(t);
            storedDtypes[dtype] = (storedDtypes[dtype] ?? 0) + 1;
            return {
              name: t.name,
              dtype,
              shape: t.shape,
              data: () => {
                ctx.checkCancelled();
                if (!t.delta && t.dtype === dtype) {
                  // Untouched and kept in its dtype: the bytes go through as they are.
                  done += numel(t.shape) * DTYPE_BYTES[dtype];
                  ctx.progress(done, totalBytes, 'write');
                  return source.readUnchanged(t);
                }
                const w = source.read(t);
                if (dtype === 'F16') {
                  for (let i = 0; i < w.length; i++) {
                    if (Math.abs(w[i]) > F16_MAX) throw new MergeError(`${t.name}: value ${w[i]} does not fit float16 (max ${F16_MAX}); export as bf16 or f32`);
                  }
                }
                done += numel(t.shape) * DTYPE_BYTES[dtype];
                ctx.progress(done, totalBytes, 'write');
                return w;
              },
            };
          });
        writeSafetensors(path.join(tmp, shard.file), tensors);
        files.push({ name: shard.file, bytes: fs.statSync(path.join(tmp, shard.file)).size });
      }
    } finally {
      source.close();
    }
    if (shards.length > 1) {
      const weightMap: Record<string, string> = {};
      for (const s of shards) for (const t of s.tensors) weightMap[t.name] = s.file;
      const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
      writeText(tmp, INDEX_FILE, JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: sorted }, null, 2) + '\n', files);
    }

    // config.json with the stored dtype
    const config = { ...plan.config.json };
    const dtypes = Object.keys(storedDtypes) as WritableDType[];
    config.torch_dtype = TORCH_DTYPE[dtypes.length === 1 ? dtypes[0] : 'F32'];
    writeText(tmp, 'config.json', JSON.stringify(config, null, 2) + '\n', files);
    copyIfPresent(req.baseDir, tmp, 'generation_config.json', files);
    const chatTemplate = writeTokenizerFiles(req.baseDir, tmp, req.chatTemplate, files);
    writeText(tmp, 'README.md', readme(req, adapter, config.torch_dtype as string), files);

    let verification: LogitsCheck | null = null;
    let verificationNote: string | undefined;
    const f32Bytes = plan.tensors.reduce((n, t) => n + numel(t.shape) * 4, 0);
    if (req.verify === false) verificationNote = 'logits check skipped on request';
    else if (f32Bytes > VERIFY_LIMIT_BYTES) verificationNote = `logits check skipped: the model needs ${(f32Bytes / 2 ** 30).toFixed(1)} GiB as float32, twice over`;
    else {
      ctx.checkCancelled();
      ctx.progress(totalBytes, totalBytes, 'verify');
      const vocab = Number(plan.config.json.vocab_size);
      const prompts = checkPromptIds(req.baseDir, vocab);
      const ref = referenceLogits(req.baseDir, adapter, prompts);
      ctx.checkCancelled();
      const got = exportedLogits(tmp, prompts);
      const worst: StoredDtype = storedDtypes.BF16 ? 'BF16' : storedDtypes.F16 ? 'F16' : 'F32';
      verification = compareLogits(ref, got, vocab, worst);
      if (!verification.passed) {
        throw new MergeError(
          `the exported model's logits differ from base + adapter by ${verification.relativeDiff.toExponential(2)} (relative; tolerance for ${worst} is ${verification.tolerance}); the export was not kept`,
        );
      }
    }
    return {
      kind: 'merged' as const,
      outDir: req.outDir,
      files,
      dtype: req.dtype,
      storedDtypes,
      shards: shards.length,
      tensors: plan.tensors.length,
      mergedModules: adapter.modules.length,
      skippedTensors: plan.skipped,
      totalBytes,
      chatTemplate,
      verification,
      verificationNote,
    };
  });
}

function writeText(dir: string, name: string, text: string, files: WrittenFile[]): void {
  fs.writeFileSync(path.join(dir, name), text);
  files.push({ name, bytes: Buffer.byteLength(text) });
}

function copyIfPresent(from: string, to: string, name: string, files: WrittenFile[]): boolean {
  const src = path.join(from, name);
  if (!fs.existsSync(src)) return false;
  fs.copyFileSync(src, path.join(to, name));
  files.push({ name, bytes: fs.statSync(src).size });
  return true;
}

/**
 * Copies the base tokenizer files, putting the training template where transformers reads it:
 * chat_template.jinja when the base has one (it wins over tokenizer_config.json), else
 * tokenizer_config.json's chat_template.
 */
export function writeTokenizerFiles(baseDir: string, outDir: string, template: string | null, files: WrittenFile[]): 'training' | 'base' | 'none' {
  for (const f of TOKENIZER_FILES) copyIfPresent(baseDir, outDir, f, files);
  const jinja = path.join(baseDir, 'chat_template.jinja');
  const cfgFile = path.join(baseDir, 'tokenizer_config.json');
  let usedJinja = false;
  if (fs.existsSync(jinja)) {
    usedJinja = true;
    if (template) writeText(outDir, 'chat_template.jinja', template, files);
    else copyIfPresent(baseDir, outDir, 'chat_template.jinja', files);
  }
  if (fs.existsSync(cfgFile)) {
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    if (template && !usedJinja) cfg.chat_template = template;
    writeText(outDir, 'tokenizer_config.json', JSON.stringify(cfg, null, 2) + '\n', files);
    if (!template) return usedJinja || typeof cfg.chat_template === 'string' ? 'base' : 'none';
  } else if (template && !usedJinja) {
    writeText(outDir, 'chat_template.jinja', template, files);
  }
  return template ? 'training' : usedJinja ? 'base' : 'none';
}

function readme(req: MergedExportRequest, adapter: AdapterWeights, torchDtype: string): string {
  const s = adapter.config.settings;
  return [
    `# ${req.adapterName} (merged)`,
    '',
    `The base model **${req.baseModelName}** with the LoRA adapter **${req.adapterName}** merged into its weights`,
    `(W' = W + s·B·A for ${adapter.modules.length} projections; s = lora_alpha / r${s.rslora ? ' (rsLoRA: / √r)' : ''}). Exported by LoRA Studio.`,
    '',
    `- Adapter: r = ${s.r}, lora_alpha = ${s.alpha}, target modules: ${Array.isArray(s.targets) ? s.targets.join(', ') : String(s.targets)}`,
    `- Stored dtype: ${torchDtype}`,
    `- Chat template: ${req.chatTemplate ? 'the one used in training (in the tokenizer files)' : "the base model's"}`,
    '',
    'Load it like any Hugging Face model:',
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    `model = AutoModelForCausalLM.from_pretrained("path/to/${path.basename(req.outDir)}")`,
    `tokenizer = AutoTokenizer.from_pretrained("path/to/${path.basename(req.outDir)}")`,
    '```',
    '',
  ].join('\n');
}
