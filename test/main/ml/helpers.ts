/** Paths and temp folders shared by the ML tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES = path.resolve(REPO_ROOT, '../shared/fixtures');
export const LLAMA_DIR = path.join(FIXTURES, 'models/tiny-random-llama');
export const GPT2_DIR = path.join(FIXTURES, 'models/tiny-gpt2');
export const LLAMA2_SPM_DIR = path.join(FIXTURES, 'tokenizers/llama2-spm');
export const GOLDEN_DIR = path.join(REPO_ROOT, 'test/golden');
export const GOLDEN_MODELS = path.join(GOLDEN_DIR, 'models');

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = 'ml-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Copies (small files) or symlinks (weights) every file of `src` into `dst`. */
export function cloneModelFolder(src: string, dst: string): void {
  fs.mkdirSync(dst, { recursive: true });
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    if (!fs.statSync(from).isFile()) continue;
    if (name.endsWith('.safetensors')) fs.symlinkSync(from, path.join(dst, name));
    else fs.copyFileSync(from, path.join(dst, name));
  }
}

export function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
}
