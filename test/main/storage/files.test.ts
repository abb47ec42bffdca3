import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicDirWriter, AtomicFileWriter, sha256File, writeFileAtomic } from '../../../src/main/storage/files';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-files-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('writeFileAtomic replaces the file whole and leaves no temp file', () => {
    const f = path.join(dir, 'a', 'b.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    expect(fs.readFileSync(f, 'utf8')).toBe('two');
    expect(fs.readdirSync(path.dirname(f))).toEqual(['b.json']);
  });

  it('AtomicFileWriter shows nothing under the final name until commit, and abort leaves nothing', () => {
    const f = path.join(dir, 'big.bin');
    const w = new AtomicFileWriter(f);
    w.write(new Uint8Array([1, 2, 3]));
    expect(fs.existsSync(f)).toBe(false);
    w.commit();
    expect([...fs.readFileSync(f)]).toEqual([1, 2, 3]);

    const w2 = new AtomicFileWriter(path.join(dir, 'other.bin'));
    w2.write(new Uint8Array(10));
    w2.abort();
    expect(fs.readdirSync(dir)).toEqual(['big.bin']);
  });

  it('AtomicDirWriter refuses an existing destination and cleans up on abort', () => {
    const target = path.join(dir, 'export');
    const w = new AtomicDirWriter(target);
    fs.writeFileSync(w.path('x.txt'), 'x');
    expect(fs.existsSync(target)).toBe(false);
    w.commit();
    expect(fs.readFileSync(path.join(target, 'x.txt'), 'utf8')).toBe('x');
    expect(() => new AtomicDirWriter(target)).toThrow(/already exists/);

    const w2 = new AtomicDirWriter(path.join(dir, 'export2'));
    fs.writeFileSync(w2.path('y.txt'), 'y');
    w2.abort();
    expect(fs.readdirSync(dir)).toEqual(['export']);
  });

  it('sha256File hashes the bytes', () => {
    const f = path.join(dir, 'h.txt');
    fs.writeFileSync(f, 'abc');
    expect(sha256File(f)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
