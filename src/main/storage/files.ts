/**
 * Atomic file writes: write a temp file beside the target, fsync, rename, fsync the folder.
 * A crash at any point leaves either the old file or the new one, never half of one.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some platforms (Windows) cannot open a folder for fsync; the rename is still atomic there.
  }
}

export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    let buf: Uint8Array = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    while (buf.length > 0) {
      const n = fs.writeSync(fd, buf);
      buf = buf.subarray(n);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  } catch (err) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(path.dirname(target));
}

export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

/**
 * A file written in pieces (tensor by tensor): the bytes go to a temp file and appear under the
 * final name only at commit(). abort() (or an error before commit) removes the temp file.
 */
export class AtomicFileWriter {
  readonly tmp: string;
  private fd: number;
  private done = false;
  bytesWritten = 0;

  constructor(readonly target: string) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.tmp = tempPathFor(target);
    this.fd = fs.openSync(this.tmp, 'w');
  }

  write(data: Uint8Array): void {
    let buf = data;
    while (buf.length > 0) {
      const n = fs.writeSync(this.fd, buf);
      buf = buf.subarray(n);
      this.bytesWritten += n;
    }
  }

  commit(): void {
    if (this.done) throw new Error(`AtomicFileWriter: ${this.target} already closed`);
    this.done = true;
    try {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      fs.renameSync(this.tmp, this.target);
    } catch (err) {
      fs.rmSync(this.tmp, { force: true });
      throw err;
    }
    fsyncDir(path.dirname(this.target));
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/**
 * A folder written in pieces: everything goes into a hidden temp folder beside `target`, which is
 * renamed into place at commit(). Refuses to replace an existing target.
 */
export class AtomicDirWriter {
  readonly tmp: string;
  private done = false;

  constructor(readonly target: string) {
    if (fs.existsSync(target)) throw new Error(`${target}: destination already exists`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    this.tmp = tempPathFor(target);
    fs.mkdirSync(this.tmp);
  }

  path(name: string): string {
    return path.join(this.tmp, name);
  }

  commit(): void {
    if (this.done) throw new Error(`AtomicDirWriter: ${this.target} already closed`);
    this.done = true;
    if (fs.existsSync(this.target)) {
      fs.rmSync(this.tmp, { recursive: true, force: true });
      throw new Error(`${this.target}: destination already exists`);
    }
    fs.renameSync(this.tmp, this.target);
    fsyncDir(path.dirname(this.target));
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

export function sha256File(file: string): string {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}
