/**
 * What every reader yields, and the checks every text file gets before parsing: byte-order marks,
 * UTF-16, binary and compressed files are recognised from the first bytes and refused with a
 * message naming the file.
 */
import fs from 'node:fs';
import { UserError } from '../../errors';

/** One record of a file: a parsed value, or why the line could not be read. */
export interface SourceRecord {
  /** 1-based line (CSV: the line the row starts on; Parquet: the row number). */
  line: number;
  value?: unknown;
  /** The record's JSON text, when the reader parsed one (lets a record already in stored form be kept as written). */
  text?: string;
  /** `text` as the file's UTF-8 bytes, where the reader has them: stored as they are, without encoding `text` again. */
  raw?: Uint8Array;
  /** Set when a StoredFormProbe accepted `raw`: the record is stored as those bytes, and was not parsed (no value or text). */
  stored?: true;
  error?: string;
}

/**
 * Lets a reader of JSON records skip decoding and parsing a record that is already in the stored
 * form (the importer's fast path): when `test(raw)` is true the record comes out as
 * {line, raw, stored: true}. `test` is undefined until the importer knows the file's shape, and
 * stays undefined for shapes whose stored form differs from the file's.
 */
export interface StoredFormProbe {
  test?: (raw: Uint8Array) => boolean;
}

/** A batch of records and how far into the file (bytes) the reader has got. */
export interface ReadBatch {
  records: SourceRecord[];
  bytesRead: number;
}

export type RecordReader = AsyncGenerator<ReadBatch, void, void>;

/** A record (line, block, JSON element) larger than this cannot be read in bounded memory. */
export const MAX_RECORD_BYTES = 64 * 2 ** 20;

export const CHUNK_BYTES = 2 * 2 ** 20;

/** A file that cannot be read as a dataset at all (as opposed to one bad line in it). */
export class FileFormatError extends UserError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`, 400);
    this.name = 'FileFormatError';
  }
}

/** Read a file as a sequence of fresh buffers (callers may keep slices of them). */
export async function* readChunks(file: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Buffer, void, void> {
  const fh = await fs.promises.open(file, 'r');
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
      if (bytesRead === 0) return;
      yield bytesRead === chunkBytes ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

const BOM = [0xef, 0xbb, 0xbf];

/**
 * Check the first chunk of a text file and return it without a UTF-8 byte-order mark.
 * `kind` names the expected format in messages ("JSON Lines", "CSV").
 */
export function checkTextStart(first: Buffer, file: string, kind: string): Buffer {
  if (first.length >= 2 && ((first[0] === 0xff && first[1] === 0xfe) || (first[0] === 0xfe && first[1] === 0xff))) {
    throw new FileFormatError(file, `the file is UTF-16; save it as UTF-8 to import it as ${kind}`);
  }
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
    throw new FileFormatError(file, `the file is gzip-compressed; decompress it first`);
  }
  if (first.length >= 4 && first.toString('latin1', 0, 4) === 'PAR1') {
    throw new FileFormatError(file, `this is a Parquet file, not ${kind}; import it with the parquet container`);
  }
  const nul = first.indexOf(0);
  if (nul >= 0) throw new FileFormatError(file, `looks like a binary file (NUL byte at byte ${nul}), not ${kind}`);
  if (first.length >= 3 && first[0] === BOM[0] && first[1] === BOM[1] && first[2] === BOM[2]) return first.subarray(3);
  return first;
}

const fatal = new TextDecoder('utf-8', { fatal: true });

/** Decode one line strictly; null when its bytes are not valid UTF-8. */
export function decodeStrict(bytes: Uint8Array): string | null {
  try {
    return fatal.decode(bytes);
  } catch {
    return null;
  }
}

/** When JSON.parse fails, say why in the user's terms (a trailing comma is the usual culprit). */
export function badJsonReason(text: string, err: unknown): string {
  const withoutTrailingCommas = text.replace(/,(\s*[}\]])/g, '$1').replace(/,\s*$/, '');
  if (withoutTrailingCommas !== text) {
    try {
      JSON.parse(withoutTrailingCommas);
      return 'bad JSON: trailing comma (JSON allows no comma before } or ] or at the end of a line)';
    } catch {
      /* something else is wrong too */
    }
  }
  const msg = (err as Error).message.replace(/^JSON\.parse: /, '');
  return `bad JSON: ${msg}`;
}
