/** Loading the addon: the reasons given when it is unavailable (these run with or without a build). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonPath, loadAddonFrom } from '../../../../src/main/ml/native/addon';

describe('native addon loading', () => {
  it('says how to build it when it is not built', () => {
    const r = loadAddonFrom(null);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/not built.*build-native\.mjs.*libopenblas-dev/);
  });

  it('names the file that does not exist', () => {
    const r = loadAddonFrom('/nonexistent/lora_native.node');
    expect(r).toEqual({ ok: false, reason: 'the native addon /nonexistent/lora_native.node does not exist' });
  });

  it('reports a file that is not a loadable addon, with the loader message', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-native-test-'));
    const file = path.join(dir, 'broken.node');
    fs.writeFileSync(file, 'not an ELF file');
    try {
      const r = loadAddonFrom(file);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} failed to load: .+`));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('honours LORA_STUDIO_NATIVE_ADDON', () => {
    expect(addonPath({ LORA_STUDIO_NATIVE_ADDON: 'some/where.node' })).toBe(path.resolve('some/where.node'));
  });
});
