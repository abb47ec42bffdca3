/**
 * Reading a model folder's config.json. Each architecture file declares a zod schema with the
 * Hugging Face field names (and transformers' defaults for optional fields); `parseConfig` turns
 * the first problem into an error that names config.json and the field.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';

export const CONFIG_FILE = 'config.json';

export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

export interface RawConfig {
  /** Absolute path of config.json, for error messages. */
  file: string;
  modelType: string;
  json: Record<string, unknown>;
}

/** Reads `<dir>/config.json` and its `model_type`; no architecture-specific checks yet. */
export function readConfigJson(dir: string): RawConfig {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelConfigError(`${dir}: not a folder`);
  const file = path.join(dir, CONFIG_FILE);
  if (!fs.existsSync(file)) {
    throw new ModelConfigError(`${dir}: not a model folder (no ${CONFIG_FILE})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ModelConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelConfigError(`${file}: not a JSON object`);
  const modelType = (json as Record<string, unknown>).model_type;
  if (typeof modelType !== 'string' || modelType === '') {
    throw new ModelConfigError(`${file}: field "model_type" is missing or not a string`);
  }
  return { file, modelType, json: json as Record<string, unknown> };
}

/** Validates `raw.json` against `schema`; the error names the file and the first bad field. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: RawConfig): z.infer<S> {
  const result = schema.safeParse(raw.json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join('.') || '(root)';
  const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k], raw.json);
  const what = value === undefined ? 'is missing' : `is invalid (${issue.message})`;
  throw new ModelConfigError(`${raw.file}: field "${field}" ${what}`);
}

/** An error for a config that parses but asks for something not implemented. */
export function unsupported(raw: RawConfig, field: string, detail: string): ModelConfigError {
  return new ModelConfigError(`${raw.file}: field "${field}": ${detail}`);
}
