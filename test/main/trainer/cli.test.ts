/** `lora-studio train` / `runs` argument handling: refusals happen before any trainer starts. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseLayers } from '../../../src/main/cli/commands/train';
import { TINY_LLAMA } from './setup';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/lora-studio.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lora-studio train / runs', () => {
  it('parses --layers as all or ranges', () => {
    expect(parseLayers('all')).toBe('all');
    expect(parseLayers('0-3,7')).toEqual([0, 1, 2, 3, 7]);
    expect(() => parseLayers('3-1')).toThrow(/runs backwards/);
    expect(() => parseLayers('x')).toThrow(/not a layer number/);
  });

  it('refuses a bad config with every reason, and no run is created', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cli-train-'));
    const r = cli(['--data-dir', dataDir, 'train', '--model', TINY_LLAMA, '--dataset', 'none', '--targets', 'q_proj,wq', '--layers', '0-5', '--seq-len', '4096', '--json']);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stdout.trim().split('\n').at(-1)!).error as string;
    expect(err).toMatch(/unknown target module "wq"/);
    expect(err).toMatch(/layers 2, 3, 4, 5 are out of range \(this model has layers 0-1\)/);
    expect(err).toMatch(/sequence length 4096 is beyond the model's context of 2048/);
    expect(err).toMatch(/no dataset "none"/);
    const rank0 = cli(['--data-dir', dataDir, 'train', '--model', TINY_LLAMA, '--dataset', 'none', '--rank', '0', '--lr=-1']);
    expect(rank0.code).toBe(2);
    expect(rank0.stderr).toMatch(/rank: rank must be at least 1; lr: learning rate must be > 0/);
    const list = cli(['--data-dir', dataDir, 'runs', 'list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});
