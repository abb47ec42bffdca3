import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../../..');
let dataDir: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/lora-studio.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, LORA_STUDIO_DATA_DIR: '', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cli-'));
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe('lora-studio CLI', () => {
  it('prints help listing the commands', () => {
    const r = cli(['help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: lora-studio/);
    expect(r.stdout).toMatch(/doctor/);
    expect(r.stdout).toMatch(/serve/);
  });

  it('an unknown command exits non-zero with one clear line', () => {
    const r = cli(['--data-dir', dataDir, 'frobnicate']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('errors are a JSON object with `error` under --json', () => {
    const r = cli(['--data-dir', dataDir, 'frobnicate', '--json']);
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ error: expect.stringMatching(/unknown command/) });
  });

  it('a bad option is a usage error naming the option', () => {
    const r = cli(['--data-dir', dataDir, 'doctor', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--bogus/);
  });

  it('doctor --json reports node, electron, every backend with a reason, data dir and DB version', () => {
    const r = cli(['doctor', '--json'], { LORA_STUDIO_DATA_DIR: dataDir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.node).toBe(process.versions.node);
    expect(s.dataDir).toBe(dataDir); // env LORA_STUDIO_DATA_DIR is honoured
    expect(s.db.version).toBe(s.db.latest);
    expect(typeof s.electron.available).toBe('boolean');
    if (!s.electron.available) expect(s.electron.reason).toMatch(/electron/);
    expect(s.backends.length).toBeGreaterThanOrEqual(3);
    for (const b of s.backends) {
      expect(typeof b.name).toBe('string');
      if (!b.available) expect(b.reason, b.name).toBeTruthy();
    }
    expect(s.backends.some((b: { available: boolean }) => b.available)).toBe(true);
    expect(s.backend.name).toBe(s.backends.find((b: { available: boolean }) => b.available).name);
  });

  it('--data-dir wins over the environment', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cli2-'));
    const r = cli(['--data-dir', other, 'doctor', '--json'], { LORA_STUDIO_DATA_DIR: dataDir });
    expect(JSON.parse(r.stdout).dataDir).toBe(other);
    expect(fs.existsSync(path.join(other, 'lora-studio.db'))).toBe(true);
    fs.rmSync(other, { recursive: true, force: true });
  });
});
