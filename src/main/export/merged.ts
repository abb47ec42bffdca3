/**
 * Merged model export: a complete Hugging Face folder (config.json, generation_config.json,
 * tokenizer files carrying the training chat template, model.safetensors or shards + index) whose
 * weights are W + s·B·A. Each tensor is read from the base file in blocks of rows, merged (or
 * converted) in place by the kernels of merge-kernels.ts and written while the next block is read
 * and merged, so memory stays near a few 2 MiB buffers whatever the model. Where the native addon
 * is built, its shard writer (mergeFile, native/src/merge_file.cc) runs that pipeline on threads of
 * its own; elsewhere writeShard runs it on libuv's (staged-file.ts). Both write the same bytes. Sharded like the original checkpoint (same shard names and grouping)
 * or by a size limit (model-0000N-of-0000M.safetensors, as transformers names them). Stored dtype:
 * the original's per tensor ('auto') or bf16/f16/f32 for all.
 *
 * Before the folder appears under its name it is reloaded and its logits compared with the base
 * model running the adapter unmerged (verify.ts). Any failure removes the temp folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { INDEX_FILE, SINGLE_FILE } from '../ml/checkpoint';
import type { DType } from '../ml/dtypes';
import { DTYPE_BYTES, numel, safetensorsHeader, type WritableDType } from '../ml/safetensors';
import { readAdapterWeights, type AdapterWeights } from '../adapters/peft-files';
import { loadAddon, type MergeFileTensor } from '../ml/native/addon';
import { ExportRefused, writeFolderAtomically, type JobContext } from './job';
import { MergeError, MergedTensorSource, planMerge, storedFloat, type MergePlan, type MergeTensor } from './merge';
import { STORED_BYTES, storedGrid } from './merge-kernels';
import { reserveBlocks, StagedFile } from './staged-file';
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
    const progress = { done: 0, total: totalBytes };
    try {
      for (const shard of shards) {
        ctx.checkCancelled();
        const tensors = [...shard.tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((t) => ({ t, dtype: outType(t) }));
        for (const { dtype } of tensors) storedDtypes[dtype] = (storedDtypes[dtype] ?? 0) + 1;
        const write = nativeShardWriter(source) ?? writeShard;
        const bytes = await write(path.join(tmp, shard.file), tensors, source, ctx, progress);
        files.push({ name: shard.file, bytes });
      }
    } finally {
      source.close();
    }
    fsyncFolder(tmp);
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

/**
 * Each of a shard writer's three staging buffers. Writes of a few MiB already run at the page
 * cache's speed; smaller buffers stay in the CPU's caches between the read, the merge and the
 * write, and are less fresh memory to fault in (on the bench model, 8 MiB buffers took clearly
 * more CPU than 2 MiB ones, 1 MiB ones a little more).
 */
const STAGING_BYTES = 2 << 20;

/** A block of one tensor's output: stored rows of a merged tensor, or a run of another's elements. */
interface Piece {
  t: MergeTensor;
  dtype: WritableDType;
  /** Where its stored bytes start in the tensor, and how many there are. */
  srcOffset: number;
  srcBytes: number;
  outBytes: number;
  /** First stored row (merged tensor) or element (others), and how many. */
  start: number;
  count: number;
  /** The tensor's last piece. */
  last: boolean;
}

/** The pieces of `t`, each small enough for a staging buffer of `capacity` bytes in and out. */
function* piecesOf(t: MergeTensor, dtype: WritableDType, capacity: number): Generator<Piece> {
  const inBytes = STORED_BYTES[storedFloat(t)];
  const outBytes = DTYPE_BYTES[dtype];
  const { rows, cols } = t.delta ? storedGrid(t.delta) : { rows: numel(t.shape), cols: 1 };
  const step = Math.max(1, Math.floor(capacity / (cols * Math.max(inBytes, outBytes))));
  for (let start = 0; start < rows || (rows === 0 && start === 0); start += step) {
    const count = Math.min(step, rows - start);
    yield { t, dtype, srcOffset: start * cols * inBytes, srcBytes: count * cols * inBytes, outBytes: count * cols * outBytes, start, count, last: start + step >= rows };
  }
}

/** A shard's safetensors header and the bytes of tensor data after it, for either writer. */
function shardLayout(file: string, tensors: { t: MergeTensor; dtype: WritableDType }[]): { head: Uint8Array; dataBytes: number } {
  const head = safetensorsHeader(file, tensors.map(({ t, dtype }) => ({ name: t.name, dtype, shape: t.shape })));
  return { head, dataBytes: tensors.reduce((n, { t, dtype }) => n + numel(t.shape) * DTYPE_BYTES[dtype], 0) };
}

/** Below this, a piece is read on the spot: the thread pool's round trip costs more than the read. */
const ASYNC_READ_BYTES = 64 << 10;

/** Reads a piece's stored bytes into `into`: in the background when it is large enough to overlap. */
function readPiece(source: MergedTensorSource, piece: Piece, into: Uint8Array): Promise<void> {
  if (piece.srcBytes >= ASYNC_READ_BYTES) return source.readStoredIntoAsync(piece.t, into, piece.srcOffset);
  try {
    source.readStoredInto(piece.t, into, piece.srcOffset);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * One safetensors shard: the header, then each tensor in order, produced straight into the staged
 * file's buffers in pieces that fit them — read from the base file, merged or converted in place.
 * Three things overlap: the read of a piece (libuv's thread pool), the merge of the one before
 * (the addon) and the write of the last complete buffer (thread pool). Pieces are as large as a
 * buffer allows: each costs a read and a merge call (four per buffer cost more CPU than one).
 * Returns the file's size.
 */
async function writeShard(
  file: string,
  tensors: { t: MergeTensor; dtype: WritableDType }[],
  source: MergedTensorSource,
  ctx: JobContext,
  progress: { done: number; total: number },
): Promise<number> {
  const { head, dataBytes } = shardLayout(file, tensors);
  // Big enough for one stored row of every merged tensor (in and out), small for small files.
  const rowBytes = Math.max(0, ...tensors.map(({ t, dtype }) => (t.delta ? storedGrid(t.delta).cols * Math.max(STORED_BYTES[storedFloat(t)], DTYPE_BYTES[dtype]) : 0)));
  const out = new StagedFile(file, Math.max(rowBytes, Math.min(STAGING_BYTES, head.length + dataBytes)), head.length + dataBytes);
  // Stored bytes that change type on the way are read here first: two, for two pieces in flight.
  const scratch = [new Uint8Array(0), new Uint8Array(0)];
  let turn = 0;
  const scratchOf = (n: number): Uint8Array => {
    turn = 1 - turn;
    if (scratch[turn].length < n) scratch[turn] = new Uint8Array(n);
    return scratch[turn].subarray(0, n);
  };

  interface InFlight {
    piece: Piece;
    dst: Uint8Array;
    from: Uint8Array;
    /** Where the piece ends in the file. */
    end: number;
    read: Promise<void>;
  }
  const finish = async ({ piece: p, dst, from, end, read }: InFlight): Promise<void> => {
    await read;
    if (p.t.delta) source.mergeRows(p.t, from, dst, p.dtype, p.start, p.count);
    else if (from !== dst) source.convert(p.t, from, dst, p.dtype, p.start);
    out.complete(end);
    if (p.last) {
      progress.done += numel(p.t.shape) * DTYPE_BYTES[p.dtype];
      ctx.progress(progress.done, progress.total, 'write');
    }
  };

  let inFlight: InFlight | null = null;
  try {
    await out.write(head);
    for (const { t, dtype } of tensors) {
      ctx.checkCancelled();
      for (const piece of piecesOf(t, dtype, out.capacity)) {
        // Read this piece while the one before is merged.
        const dst = await out.region(piece.outBytes);
        const from = storedFloat(t) === dtype ? dst : scratchOf(piece.srcBytes);
        const read = readPiece(source, piece, from);
        read.catch(() => undefined); // awaited in finish(), or below on failure
        const before: InFlight | null = inFlight;
        inFlight = { piece, dst, from, end: out.size, read };
        if (before) await finish(before);
      }
    }
    if (inFlight) {
      const last: InFlight = inFlight;
      inFlight = null;
      await finish(last);
    }
    await out.close();
  } catch (err) {
    await inFlight?.read.catch(() => undefined); // no read may outlive the reader it uses
    await out.abort();
    throw err;
  }
  return out.size;
}

type ShardWriter = typeof writeShard;

/** Bytes per block of the native writer, blocks in flight, and bytes between its fdatasyncs. */
const NATIVE_BLOCK_BYTES = 2 << 20;
const NATIVE_SLOTS = 4;
const NATIVE_SYNC_BYTES = 8 << 20;
/** How often the JS side reports the native writer's progress and looks for a cancel. */
const NATIVE_POLL_MS = 50;

/**
 * The addon's shard writer where the export runs on the native kernels and the addon has it (else
 * null: writeShard above). The same file, bytes for bytes (the same kernels), with the read, the
 * merge, the write and the early fdatasyncs each on a thread of their own in the addon: no trip
 * through the JS event loop per block (merged-native.test.ts compares the two).
 */
function nativeShardWriter(source: MergedTensorSource): ShardWriter | null {
  // LORA_STUDIO_MERGE_WRITER=libuv: the other writer, for comparisons (bench/export.ts).
  if (source.kernels.name !== 'native' || process.env.LORA_STUDIO_MERGE_WRITER === 'libuv') return null;
  const native = loadAddon();
  if (!native.ok || typeof native.addon.mergeFile !== 'function') return null;
  const mergeFile = native.addon.mergeFile.bind(native.addon);

  return async (file, tensors, src, ctx, progress) => {
    const { head, dataBytes } = shardLayout(file, tensors);
    const inputs = new Map<string, number>();
    const fds: number[] = [];
    let out: number | null = null;
    let poll: ReturnType<typeof setInterval> | null = null;
    const control = new Int32Array(new SharedArrayBuffer(4));
    let writing: Promise<unknown> | null = null;
    try {
      const jobs: MergeFileTensor[] = tensors.map(({ t, dtype }) => {
        const at = src.storedAt(t);
        let input = inputs.get(at.file);
        if (input === undefined) {
          input = fds.length;
          fds.push(fs.openSync(at.file, 'r'));
          inputs.set(at.file, input);
        }
        const srcType = storedFloat(t);
        if (!t.delta) return { input, offset: at.offset, srcType, dstType: dtype, rows: numel(t.shape), cols: 1 };
        const m = t.delta.module;
        const { rows, cols } = storedGrid(t.delta);
        return { input, offset: at.offset, srcType, dstType: dtype, rows, cols, delta: { a: m.a, b: m.b, r: m.r, inF: m.inFeatures, outF: m.outFeatures, scale: t.delta.scale, transposed: t.delta.transposed } };
      });
      out = fs.openSync(file, 'wx');
      reserveBlocks(out, file, head.length + dataBytes);

      // While the addon works, this thread reports its progress and passes a cancel on to it.
      const written = new Float64Array(new SharedArrayBuffer(8));
      let stopped: unknown = null;
      const base = progress.done;
      const tick = () => {
        ctx.progress(base + written[0], progress.total, 'write');
        try {
          ctx.checkCancelled();
        } catch (err) {
          stopped ??= err;
          Atomics.store(control, 0, 1);
        }
      };
      ctx.checkCancelled();
      const job = mergeFile({ inputs: fds, out, head, tensors: jobs, blockBytes: NATIVE_BLOCK_BYTES, slots: NATIVE_SLOTS, syncBytes: NATIVE_SYNC_BYTES, control, progress: written });
      writing = job;
      tick();
      poll = setInterval(tick, NATIVE_POLL_MS);
      const result = await job.catch((err: unknown) => {
        throw ioError(err, (i) => (i >= 0 ? [...inputs.keys()][i] : file));
      });
      writing = null;
      if (result.problem) throw src.refusal(tensors[result.problem.tensor].t, result.problem, tensors[result.problem.tensor].dtype);
      // A cancel that came too late to stop the addon still stops the export here.
      if (stopped) throw stopped;
      ctx.checkCancelled();
      if (result.cancelled) throw new Error(`${file}: the export stopped before it was written`);
      progress.done = base + dataBytes;
      ctx.progress(progress.done, progress.total, 'write');
      fs.fsyncSync(out);
      return head.length + dataBytes;
    } finally {
      if (poll) clearInterval(poll);
      // The addon's threads use these descriptors until its job settles: stop it and wait first.
      if (writing) {
        Atomics.store(control, 0, 1);
        await writing.catch(() => undefined);
      }
      for (const fd of fds) fs.closeSync(fd);
      if (out !== null) fs.closeSync(out);
    }
  };
}

/** The addon's I/O error as Node's fs errors are (code, path), naming the file it concerns. */
function ioError(err: unknown, fileOf: (input: number) => string): Error {
  const e = err as Error & { code?: string; syscall?: string; input?: number };
  if (typeof e?.input !== 'number') return err instanceof Error ? err : new Error(String(err));
  const file = fileOf(e.input);
  if (e.code === 'ESHORT') return new MergeError(`${file} ended before a tensor's data did: was the base model changed during the export?`);
  return Object.assign(new Error(`${file}: ${e.message}`), { code: e.code, syscall: e.syscall, path: file });
}

/** Makes the shard files' names durable before the folder is renamed (not possible on Windows). */
function fsyncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // a folder cannot be opened for fsync on every platform; the rename stays atomic
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
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
