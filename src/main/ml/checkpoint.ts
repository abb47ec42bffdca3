/**
 * The weights of a Hugging Face model folder: either one `model.safetensors`, or shards listed in
 * `model.safetensors.index.json` (`weight_map: {tensor name: shard file}`). Opening validates every
 * header and the index against the shards (missing shard file, tensors listed but absent from
 * their shard, tensors present in a shard but not listed); reading stays one tensor at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SafetensorsReader, readSafetensorsHeader, type TensorInfo } from './safetensors';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

const IndexSchema = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string()),
});

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Where each tensor lives, from headers only (no weights read). */
export interface CheckpointLayout {
  /** Weight files, absolute paths, in a stable order. */
  files: string[];
  tensors: Map<string, TensorInfo & { file: string }>;
}

/** Finds and validates the safetensors weights of `dir` without reading any tensor data. */
export function readCheckpointLayout(dir: string): CheckpointLayout {
  const indexPath = path.join(dir, INDEX_FILE);
  const singlePath = path.join(dir, SINGLE_FILE);
  if (fs.existsSync(indexPath)) return readShardedLayout(dir, indexPath);
  if (fs.existsSync(singlePath)) {
    const { tensors } = readSafetensorsHeader(singlePath);
    const withFile = new Map([...tensors].map(([name, info]) => [name, { ...info, file: singlePath }]));
    return { files: [singlePath], tensors: withFile };
  }
  throw new CheckpointError(describeMissingWeights(dir));
}

function readShardedLayout(dir: string, indexPath: string): CheckpointLayout {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${indexPath}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = IndexSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CheckpointError(`${indexPath}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const weightMap = parsed.data.weight_map;
  const shardNames = [...new Set(Object.values(weightMap))].sort();
  const problems: string[] = [];
  const tensors = new Map<string, TensorInfo & { file: string }>();
  const files: string[] = [];

  for (const shard of shardNames) {
    const file = path.join(dir, shard);
    if (path.dirname(path.resolve(file)) !== path.resolve(dir)) {
      problems.push(`shard "${shard}" is not a file inside the model folder`);
      continue;
    }
    if (!fs.existsSync(file)) {
      problems.push(`shard file ${shard} is missing`);
      continue;
    }
    files.push(file);
    const header = readSafetensorsHeader(file);
    for (const [name, info] of header.tensors) {
      if (weightMap[name] !== shard) {
        const where = weightMap[name] ? `listed under ${weightMap[name]}` : 'not listed in weight_map';
        problems.push(`extra tensor "${name}" in ${shard} (${where})`);
        continue;
      }
      tensors.set(name, { ...info, file });
    }
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!tensors.has(name) && files.includes(path.join(dir, shard))) problems.push(`tensor "${name}" is listed for ${shard} but absent from it`);
  }
  if (problems.length > 0) throw new CheckpointError(`${indexPath}: ${problems.join('; ')}`);
  return { files, tensors };
}

function describeMissingWeights(dir: string): string {
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const legacy = names.filter((n) => /^pytorch_model.*\.bin$|\.pt$|\.pth$|\.ckpt$|\.gguf$/.test(n));
  if (legacy.length > 0) {
    return `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}; found ${legacy.join(', ')}, which LoRA Studio does not read (only safetensors weights)`;
  }
  return `${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`;
}

/** Reads tensors of a checkpoint one at a time, keeping one open reader per shard. */
export class CheckpointReader {
  private readers = new Map<string, SafetensorsReader>();

  constructor(readonly layout: CheckpointLayout) {}

  info(name: string): TensorInfo & { file: string } {
    const info = this.layout.tensors.get(name);
    if (!info) throw new CheckpointError(`checkpoint has no tensor "${name}"`);
    return info;
  }

  readFloat32(name: string): Float32Array {
    return this.reader(this.info(name).file).readFloat32(name);
  }

  /** The tensor's bytes as stored (its dtype is info(name).dtype). */
  readBytes(name: string): Uint8Array {
    return this.reader(this.info(name).file).readBytes(name);
  }

  /** Part of the tensor's stored bytes, read into `out` (see SafetensorsReader.readBytesInto). */
  readBytesInto(name: string, out: Uint8Array, byteOffset = 0): void {
    this.reader(this.info(name).file).readBytesInto(name, out, byteOffset);
  }

  /** readBytesInto on libuv's thread pool (see SafetensorsReader.readBytesIntoAsync). */
  readBytesIntoAsync(name: string, out: Uint8Array, byteOffset = 0): Promise<void> {
    return this.reader(this.info(name).file).readBytesIntoAsync(name, out, byteOffset);
  }

  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }

  private reader(file: string): SafetensorsReader {
    let r = this.readers.get(file);
    if (!r) {
      r = SafetensorsReader.open(file);
      this.readers.set(file, r);
    }
    return r;
  }
}
