/**
 * Exports of an adapter: a PEFT folder, a merged Hugging Face model, or a GGUF file (+ Ollama
 * Modelfile). Each is a cancellable job; progress events carry the phase, bytes and an ETA.
 */
import { z } from 'zod';
import { call, event } from './define';

export type ExportKind = 'peft' | 'merged' | 'gguf';
export type ExportStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface ExportRecord {
  id: number;
  adapterId: number | null;
  kind: ExportKind;
  /** The folder (peft, merged) or .gguf file written. */
  path: string;
  status: ExportStatus;
  options: Record<string, unknown>;
  /** What was written (files, sizes, dtype, the logits check, the GGUF metadata) once completed. */
  result: Record<string, unknown> | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface ExportProgressEvent {
  id: number;
  kind: ExportKind;
  /** write, verify */
  phase: string;
  done: number;
  total: number;
  fraction: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}

const id = z.number().int().positive();

export const ExportStartArgs = z
  .object({
    adapterId: id,
    kind: z.enum(['peft', 'merged', 'gguf']),
    /** Folder to create (peft, merged) or .gguf file (gguf); must not exist. */
    out: z.string().min(1),
    /** merged: stored dtype ('auto' keeps the base model's). */
    dtype: z.enum(['auto', 'bf16', 'f16', 'f32']).default('auto'),
    /** merged: shard by this size in bytes; default shards like the base model. */
    maxShardBytes: z.number().int().min(1 << 20).optional(),
    /** gguf: tensor type. */
    ggufType: z.enum(['f32', 'f16', 'q8_0']).default('f16'),
    /** gguf: also write an Ollama Modelfile beside the file. */
    modelfile: z.boolean().default(false),
    /** merged: reload the export and compare logits (default on). */
    verify: z.boolean().default(true),
  })
  .strict();

export const exportsCalls = {
  'exports.start': call<ExportRecord>()(ExportStartArgs),
  'exports.cancel': call<ExportRecord>()(z.object({ id }).strict()),
  'exports.get': call<ExportRecord>()(z.object({ id }).strict()),
  'exports.list': call<ExportRecord[]>()(z.object({ adapterId: id.optional() }).strict()),
};

export const exportsEvents = {
  'exports.progress': event<ExportProgressEvent>(),
  /** A job ended (completed, failed or cancelled); the record holds the result or the reason. */
  'exports.finished': event<ExportRecord>(),
};
