/**
 * JSON files: a top-level array of records, or an object holding the list
 * (`{"data": [...]}`: the first key whose value is a list of objects, or the key the user names).
 *
 * The file is scanned byte by byte, tracking strings and nesting, so only one record is held in
 * memory at a time; each record's text is then parsed with JSON.parse, and a record that does not
 * parse is a record error with the line it starts on. A trailing comma after the last record of
 * the list is accepted (hand-edited files often have one); inside a record it is reported.
 * A file that is a whole single record (`{"messages": [...]}`) is read as one record.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { FileFormatError, MAX_RECORD_BYTES, badJsonReason, checkTextStart, readChunks, type RecordReader, type SourceRecord, type StoredFormProbe } from './source';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

function parseRecord(bytes: Buffer, line: number, probe?: StoredFormProbe): SourceRecord {
  if (!isUtf8(bytes)) return { line, error: 'invalid UTF-8' };
  if (probe?.test?.(bytes)) return { line, raw: bytes, stored: true };
  const text = bytes.toString('utf8');
  try {
    return { line, value: JSON.parse(text), text, raw: bytes };
  } catch (err) {
    return { line, error: badJsonReason(text, err) };
  }
}

/** Incremental scanner that cuts the records list out of a JSON document. */
class RecordListScanner {
  line = 1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Nesting depth of the records list's elements' container; 0 until found. */
  private listDepth = 0;
  private listDone = false;
  /** At the list's level: a comma was seen and no element has started since. */
  private afterComma = false;
  /** The top-level object's key being read, and the last one read. */
  private key: Buffer[] = [];
  private keyOpen = false;
  private keyStart = 0;
  private expectKey = false;
  private lastKey = '';
  /** A list just opened at depth 2 whose first element decides whether it holds the records. */
  private peeking = false;
  private elem: Buffer[] = [];
  private elemBytes = 0;
  private elemStart = -1;
  private elemLine = 0;
  private tooLong = false;
  topKind: 'array' | 'object' | undefined;
  keysSeen: string[] = [];

  constructor(
    private readonly file: string,
    private readonly field: string | undefined,
    private readonly probe?: StoredFormProbe,
  ) {}

  /** Scan one chunk; complete records are appended to `out`. */
  push(chunk: Buffer, out: SourceRecord[]): void {
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.keyOpen) this.closeKey(chunk, i);
        } else if (b === NEWLINE) this.line++;
        continue;
      }
      if (b === NEWLINE) {
        this.line++;
        continue;
      }
      if (isSpace(b)) continue;
      if (this.peeking) {
        this.peeking = false;
        if (b === OPEN_OBJECT && (this.field === undefined || this.field === this.lastKey)) {
          this.listDepth = 2;
          this.afterComma = true;
        }
      }
      if (this.depth === 0) {
        if (this.topKind !== undefined) throw new FileFormatError(this.file, `unexpected text after the end of the JSON document at line ${this.line}`);
        if (b === OPEN_ARRAY) {
          this.topKind = 'array';
          if (this.field !== undefined) throw new FileFormatError(this.file, `the file is a JSON list, it has no key "${this.field}"`);
          this.listDepth = 1;
          this.afterComma = true;
        } else if (b === OPEN_OBJECT) {
          this.topKind = 'object';
          this.expectKey = true;
        }
        else throw new FileFormatError(this.file, `not a JSON list or object (starts with "${String.fromCharCode(b)}" at line ${this.line})`);
        this.depth = 1;
        continue;
      }
      const atList = this.listDepth > 0 && !this.listDone && this.depth === this.listDepth;
      if (atList && this.elemStart < 0 && this.elem.length === 0) {
        // Between elements of the records list.
        if (b === COMMA) {
          if (this.afterComma) out.push({ line: this.line, error: 'bad JSON: empty record (two commas in a row)' });
          this.afterComma = true;
          continue;
        }
        if (b === CLOSE_ARRAY) {
          this.closeList();
          continue;
        }
        this.elemStart = i;
        this.elemLine = this.line;
        this.afterComma = false;
      } else if (atList && (b === COMMA || b === CLOSE_ARRAY)) {
        this.endElement(chunk, i, out);
        if (b === COMMA) this.afterComma = true;
        else this.closeList();
        continue;
      }
      if (b === QUOTE) {
        this.inString = true;
        if (this.depth === 1 && this.expectKey) {
          this.expectKey = false;
          this.keyOpen = true;
          this.key = [];
          this.keyStart = i + 1;
        }
      } else if (b === COMMA) {
        if (this.depth === 1 && this.topKind === 'object') this.expectKey = true;
      } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
        this.depth++;
        if (b === OPEN_ARRAY && this.depth === 2 && this.topKind === 'object' && this.listDepth === 0) this.peeking = true;
      } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        this.depth--;
        if (this.listDepth > 0 && !this.listDone && this.depth < this.listDepth) {
          throw new FileFormatError(this.file, `unbalanced "${String.fromCharCode(b)}" at line ${this.line}`);
        }
      }
    }
    // Keep the unfinished pieces of this chunk for the next one.
    if (this.elemStart >= 0) {
      this.keep(chunk.subarray(this.elemStart));
      this.elemStart = 0;
    }
    if (this.keyOpen) {
      this.key.push(chunk.subarray(this.keyStart));
      this.keyStart = 0;
    }
  }

  private closeKey(chunk: Buffer, i: number): void {
    this.keyOpen = false;
    this.key.push(chunk.subarray(this.keyStart, i));
    const raw = Buffer.concat(this.key).toString('utf8');
    this.key = [];
    try {
      this.lastKey = JSON.parse(`"${raw}"`) as string;
    } catch {
      this.lastKey = raw;
    }
    if (this.keysSeen.length < 50 && !this.keysSeen.includes(this.lastKey)) this.keysSeen.push(this.lastKey);
  }

  private keep(piece: Buffer): void {
    if (this.tooLong) return;
    this.elemBytes += piece.length;
    if (this.elemBytes > MAX_RECORD_BYTES) {
      this.tooLong = true;
      this.elem = [];
      return;
    }
    // The chunk buffer is fresh per read, so a slice of it can be kept without a copy.
    this.elem.push(piece);
  }

  private endElement(chunk: Buffer, i: number, out: SourceRecord[]): void {
    if (this.elemStart >= 0) this.keep(chunk.subarray(this.elemStart, i));
    if (this.tooLong) out.push({ line: this.elemLine, error: `record is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB` });
    else out.push(parseRecord(this.elem.length === 1 ? this.elem[0] : Buffer.concat(this.elem), this.elemLine, this.probe));
    this.elem = [];
    this.elemBytes = 0;
    this.elemStart = -1;
    this.tooLong = false;
  }

  private closeList(): void {
    this.listDone = true;
    this.depth--;
  }

  /** At end of file: report a record cut short, or a document that never closed. */
  finish(out: SourceRecord[]): void {
    if (this.topKind === undefined) return;
    if (this.elemStart >= 0 || this.elem.length > 0) {
      out.push({ line: this.elemLine, error: 'truncated: the file ends before this record is complete' });
    } else if (this.depth > 0) {
      if (this.listDepth > 0 && !this.listDone) out.push({ line: this.line, error: 'truncated: the file ends before the list of records is closed' });
      else throw new FileFormatError(this.file, 'truncated: the file ends before the JSON document is closed');
    }
    if (this.listDepth === 0) {
      throw new FileFormatError(
        this.file,
        this.field !== undefined
          ? `no list of records under the key "${this.field}" (keys found: ${this.keysSeen.join(', ') || 'none'})`
          : `the JSON object holds no list of records (keys found: ${this.keysSeen.join(', ') || 'none'}); a JSON dataset is a list of records or an object with one`,
      );
    }
  }
}

/** The first bytes of a JSON file, to tell one record, a list, or JSON Lines apart. */
const SNIFF_BYTES = 1 << 20;

export type JsonLayout = 'list' | 'single-record' | 'jsonl';

/**
 * Look at the start of a `.json` file: a list (or an object holding one), a single record, or
 * actually JSON Lines (several objects one after another).
 */
export async function sniffJson(file: string, looksLikeRecord: (value: unknown) => boolean): Promise<JsonLayout> {
  const fh = await fs.promises.open(file, 'r');
  let head: Buffer;
  let size: number;
  try {
    size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(SNIFF_BYTES, size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.length === 0) return 'list';
  head = checkTextStart(head, file, 'JSON');
  let i = 0;
  while (i < head.length && isSpace(head[i])) i++;
  if (head[i] !== OPEN_OBJECT) return 'list';
  // Find where the first top-level object ends.
  let depth = 0;
  let inString = false;
  let escaped = false;
  let end = -1;
  for (let j = i; j < head.length; j++) {
    const b = head[j];
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++;
    else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      depth--;
      if (depth === 0) {
        end = j + 1;
        break;
      }
    }
  }
  if (end < 0) return 'list'; // a big object: a container whose list the scanner will find
  let k = end;
  while (k < head.length && isSpace(head[k])) k++;
  if (k < head.length) return 'jsonl';
  if (head.length < size) return 'list';
  try {
    return looksLikeRecord(JSON.parse(head.subarray(i, end).toString('utf8'))) ? 'single-record' : 'list';
  } catch {
    return 'list';
  }
}

/** `probe`: see StoredFormProbe (the importer's fast path for records already in stored form). */
export async function* readJson(file: string, opts: { field?: string; probe?: StoredFormProbe } = {}): RecordReader {
  const scanner = new RecordListScanner(file, opts.field, opts.probe);
  let bytesRead = 0;
  let first = true;
  for await (const raw of readChunks(file)) {
    bytesRead += raw.length;
    const chunk = first ? checkTextStart(raw, file, 'JSON') : raw;
    first = false;
    const records: SourceRecord[] = [];
    scanner.push(chunk, records);
    yield { records, bytesRead };
  }
  if (first) return;
  const records: SourceRecord[] = [];
  scanner.finish(records);
  yield { records, bytesRead };
}

/** A `.json` file holding one record: read whole (sniffJson saw it is under 1 MiB). */
export async function* readSingleJsonRecord(file: string): RecordReader {
  const buf = checkTextStart(await fs.promises.readFile(file), file, 'JSON');
  yield { records: [{ ...parseRecord(buf, 1), line: 1 }], bytesRead: buf.length };
}
