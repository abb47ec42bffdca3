/**
 * GGUF export of base + adapter (llama, mistral, qwen2, gpt2) in F32, F16 or Q8_0, named and laid
 * out as llama.cpp's convert_hf_to_gguf.py writes it (gguf-arch.ts, gguf-vocab.ts), with the
 * training chat template as tokenizer.chat_template, and optionally an Ollama Modelfile.
 *
 * Tensors are merged, transformed (Q/K permutation, Conv1D transpose), encoded and written one at
 * a time. Before the file is moved into place it is re-read with our GGUF reader: header,
 * metadata (every key and value), tensor names, shapes and types, and the bytes of every tensor
 * (sha256 recorded while writing) must match what was meant to be written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GGML_QUANT_VERSION, GgmlType, GgufValueType, ggmlTensorBytes, ggmlTypeName } from '../ml/gguf/constants';
import { encodeTensor } from '../ml/gguf/quant';
import { GgufReader, type GgufReadValue } from '../ml/gguf/reader';
import { GgufMetadata, writeGguf, type GgufTensorToWrite } from '../ml/gguf/writer';
import { AtomicFileWriter } from '../storage/files';
import { readAdapterWeights } from '../adapters/peft-files';
import { FILE_TYPES, GgufExportError, ggufArchitecture, tensorTypeFor, type GgufFileType } from './gguf-arch';
import { writeGgufVocab, type VocabSummary } from './gguf-vocab';
import { ExportRefused, writeFilesAtomically, type JobContext } from './job';
import { MergedTensorSource, planMerge } from './merge';
import { buildModelfile, type ModelfileResult } from './modelfile';

export interface GgufExportRequest {
  adapterDir: string;
  baseDir: string;
  /** The .gguf file to write. */
  outFile: string;
  type: GgufFileType;
  /** Also write an Ollama Modelfile beside it. */
  modelfile: boolean;
  /** The training chat template (Jinja); null keeps the base model's. */
  chatTemplate: string | null;
  /** general.name */
  name: string;
}

export interface GgufExportResult {
  kind: 'gguf';
  file: string;
  bytes: number;
  type: GgufFileType;
  tensors: number;
  tensorTypes: Record<string, number>;
  /** Tensors written F16 under Q8_0 because their rows are not a multiple of 32. */
  q8Fallbacks: string[];
  mergedModules: number;
  /** The metadata as re-read from the file (arrays summarised). */
  metadata: Record<string, unknown>;
  vocab: VocabSummary;
  modelfile: (Omit<ModelfileResult, 'text'> & { file: string }) | null;
  validation: { reread: true; metadataKeys: number; tensorsChecked: number };
}

interface Planned {
  hfName: string | null;
  name: string;
  shape: number[];
  type: GgmlType;
  extra?: Float32Array;
}

export async function exportGguf(req: GgufExportRequest, ctx: JobContext): Promise<GgufExportResult> {
  if (!(req.type in FILE_TYPES)) throw new ExportRefused(`GGUF type must be one of ${Object.keys(FILE_TYPES).join(', ')}, got "${req.type}"`);
  if (!req.outFile.endsWith('.gguf')) throw new ExportRefused(`${req.outFile}: a GGUF file name must end in .gguf`);
  const adapter = readAdapterWeights(req.adapterDir);
  const plan = planMerge(req.baseDir, adapter);
  const config = plan.config.json;
  const arch = ggufArchitecture(plan.config.modelType, config);
  const { fileType, tensorType } = FILE_TYPES[req.type];

  // Tensor list first: names, GGUF shapes and types are all known from headers.
  const planned: Planned[] = arch.extraTensors().map((t) => ({ hfName: null, name: t.name, shape: t.shape, type: GgmlType.F32, extra: t.data }));
  const unmapped: string[] = [];
  const q8Fallbacks: string[] = [];
  const byHf = new Map(plan.tensors.map((t) => [t.name, t]));
  for (const t of plan.tensors) {
    const name = arch.tensorName(t.name);
    if (name === null) {
      if (!/\.(rotary_emb\.inv_freq|attn\.bias|attn\.masked_bias)$/.test(t.name)) unmapped.push(t.name);
      continue;
    }
    const shape = gShape(arch.arch, t.name, t.shape);
    const { type, fellBack } = tensorTypeFor(name, shape, tensorType);
    if (fellBack) q8Fallbacks.push(name);
    planned.push({ hfName: t.name, name, shape, type });
  }
  if (unmapped.length) throw new GgufExportError(`no GGUF name for tensor(s) ${unmapped.slice(0, 5).join(', ')}; llama.cpp's converter would refuse this checkpoint too`);

  const meta = new GgufMetadata();
  meta.string('general.architecture', arch.arch);
  meta.string('general.type', 'model');
  meta.string('general.name', req.name);
  arch.writeParameters(meta, fileType);
  meta.uint32('general.quantization_version', GGML_QUANT_VERSION);
  const vocab = writeGgufVocab(meta, { modelDir: req.baseDir, config, family: arch.tokenizerFamily, chatTemplate: req.chatTemplate });

  const outputs = [req.outFile];
  const modelfilePath = path.join(path.dirname(req.outFile), 'Modelfile');
  if (req.modelfile) outputs.push(modelfilePath);
  const totalBytes = planned.reduce((n, p) => n + ggmlTensorBytes(p.type, p.shape), 0);

  return writeFilesAtomically(outputs, async (tmp) => {
    const file = path.join(tmp, path.basename(req.outFile));
    const hashes = new Map<string, string>();
    const source = new MergedTensorSource(plan);
    // F16 through the merge kernels (the addon's, threaded, where it is built): the same bits as
    // encodeTensor, and a value beyond float16 is refused rather than written as Inf.
    const encode = (name: string, data: Float32Array, type: GgmlType): Uint8Array => {
      if (type !== GgmlType.F16) return encodeTensor(data, type);
      const bytes = new Uint8Array(data.length * 2);
      const problem = source.kernels.convert(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 'F32', bytes, 'F16');
      if (problem) throw new GgufExportError(`${name}: value ${data[problem.index]} (element ${problem.index}) does not fit float16 (max 65504); export as f32 or q8_0`);
      return bytes;
    };
    const out = new AtomicFileWriter(file);
    let done = 0;
    try {
      const tensors: GgufTensorToWrite[] = planned.map((p) => ({
        name: p.name,
        shape: p.shape,
        type: p.type,
        data: () => {
          ctx.checkCancelled();
          let data: Float32Array;
          if (p.extra) data = p.extra;
          else {
            const t = byHf.get(p.hfName as string)!;
            data = arch.transform(t.name, source.read(t), t.shape).data;
          }
          const bytes = encode(p.name, data, p.type);
          hashes.set(p.name, crypto.createHash('sha256').update(bytes).digest('hex'));
          done += bytes.length;
          ctx.progress(done, totalBytes, 'write');
          return bytes;
        },
      }));
      writeGguf(out, meta, tensors);
      out.commit();
    } catch (err) {
      out.abort();
      throw err;
    } finally {
      source.close();
    }

    ctx.checkCancelled();
    ctx.progress(totalBytes, totalBytes, 'verify');
    const reread = validateWritten(file, meta, planned, hashes);

    let modelfile: GgufExportResult['modelfile'] = null;
    if (req.modelfile) {
      const tc = readTokenizerConfig(req.baseDir);
      const mf = buildModelfile({
        ggufFile: path.basename(req.outFile),
        // the whole template written into the GGUF (the training one, else the base model's); the
        // re-read summary shortens long strings
        chatTemplate: writtenString(meta, 'tokenizer.chat_template'),
        tokens: { bos: tokenText(tc?.bos_token), eos: tokenText(tc?.eos_token) },
      });
      fs.writeFileSync(path.join(tmp, 'Modelfile'), mf.text);
      const { text: _text, ...rest } = mf;
      modelfile = { ...rest, file: modelfilePath };
    }

    const tensorTypes: Record<string, number> = {};
    for (const p of planned) tensorTypes[ggmlTypeName(p.type)] = (tensorTypes[ggmlTypeName(p.type)] ?? 0) + 1;
    return {
      kind: 'gguf' as const,
      file: req.outFile,
      bytes: fs.statSync(file).size,
      type: req.type,
      tensors: planned.length,
      tensorTypes,
      q8Fallbacks,
      mergedModules: adapter.modules.length,
      metadata: reread.metadata,
      vocab,
      modelfile,
      validation: { reread: true as const, metadataKeys: meta.entries.size, tensorsChecked: planned.length },
    };
  });
}

/** GGUF shape (PyTorch order) of a checkpoint tensor: GPT-2 Conv1D weights come out transposed. */
function gShape(arch: string, hfName: string, shape: number[]): number[] {
  if (arch === 'gpt2' && shape.length === 2 && /\.(c_attn|c_proj|c_fc)\.weight$/.test(hfName)) return [shape[1], shape[0]];
  return shape;
}

function readTokenizerConfig(dir: string): Record<string, unknown> | null {
  const f = path.join(dir, 'tokenizer_config.json');
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) : null;
}

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/** Metadata for display: arrays longer than 8 shown as their length and first items. */
function writtenString(meta: GgufMetadata, key: string): string | null {
  const v = meta.entries.get(key);
  return v && typeof v.value === 'string' ? v.value : null;
}

export function summariseMetadata(entries: Map<string, { value: GgufReadValue }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, { value }] of entries) {
    if (Array.isArray(value) && value.length > 8) out[k] = { length: value.length, first: value.slice(0, 5) };
    else if (typeof value === 'string' && value.length > 200) out[k] = `${value.slice(0, 200)}… (${value.length} chars)`;
    else out[k] = typeof value === 'bigint' ? value.toString() : value;
  }
  return out;
}

function sameScalar(written: unknown, read: unknown, type: GgufValueType): boolean {
  if (type === GgufValueType.FLOAT32) return Math.fround(Number(written)) === read;
  if (type === GgufValueType.UINT64 || type === GgufValueType.INT64) return BigInt(written as number) === BigInt(read as number);
  return written === read;
}

/** Re-reads `file` and checks it against what was meant to be written. */
function validateWritten(file: string, meta: GgufMetadata, planned: Planned[], hashes: Map<string, string>): { metadata: Record<string, unknown> } {
  const r = GgufReader.open(file);
  try {
    const problems: string[] = [];
    if (r.metadata.size !== meta.entries.size) problems.push(`${r.metadata.size} metadata keys read back, ${meta.entries.size} written`);
    for (const [k, v] of meta.entries) {
      const got = r.metadata.get(k);
      if (!got) {
        problems.push(`metadata "${k}" missing`);
        continue;
      }
      const ok =
        v.type === GgufValueType.ARRAY
          ? got.itemType === v.itemType && Array.isArray(got.value) && got.value.length === v.value.length && v.value.every((x, i) => sameScalar(x, (got.value as unknown[])[i], v.itemType))
          : sameScalar(v.value, got.value, v.type);
      if (!ok || got.type !== v.type) problems.push(`metadata "${k}" reads back differently`);
    }
    if (r.tensors.length !== planned.length) problems.push(`${r.tensors.length} tensors read back, ${planned.length} written`);
    planned.forEach((p, i) => {
      const t = r.tensors[i];
      if (!t || t.name !== p.name || t.type !== p.type || t.shape.join() !== p.shape.join()) {
        problems.push(`tensor ${i} reads back as ${t ? `${t.name} ${ggmlTypeName(t.type)} [${t.shape.join(', ')}]` : 'nothing'}, written ${p.name} ${ggmlTypeName(p.type)} [${p.shape.join(', ')}]`);
        return;
      }
      const h = crypto.createHash('sha256').update(r.readBytes(p.name)).digest('hex');
      if (h !== hashes.get(p.name)) problems.push(`tensor ${p.name}: data reads back differently`);
    });
    if (problems.length) throw new GgufExportError(`${file}: the written GGUF does not read back as written: ${problems.slice(0, 5).join('; ')}`);
    return { metadata: summariseMetadata(r.metadata) };
  } finally {
    r.close();
  }
}
