/**
 * CSV (RFC 4180) and TSV: a header row naming the columns, then one record per row.
 *
 * Quoted fields may hold the delimiter, newlines and doubled quotes (`""`); CRLF and LF endings
 * and a UTF-8 byte-order mark are accepted; blank lines are skipped. TSV files use the same rules
 * with a tab (pandas quotes TSV fields that hold tabs or newlines the same way). A quote inside an
 * unquoted field is kept as a character, as most tools do. A row with a different number of fields
 * than the header, text after a closing quote, or invalid UTF-8 is a record error for the line the
 * row starts on.
 */
import { isUtf8 } from 'node:buffer';
import { FileFormatError, MAX_RECORD_BYTES, checkTextStart, decodeStrict, readChunks, type RecordReader, type SourceRecord } from './source';

const QUOTE = 34;
const CR = 13;
const LF = 10;

class CsvParser {
  header: string[] | null = null;
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  private afterQuote = false;
  private rowLine = 1;
  private rowBytes = 0;
  private problem: string | null = null;
  line = 1;
  /** Lines whose bytes are not valid UTF-8 (decoded with replacement characters). */
  badLines = new Set<number>();

  constructor(
    private readonly file: string,
    private readonly delimiter: number,
  ) {}

  /** Parse `text`, which ends at a line break or at the end of the file. */
  push(text: string, out: SourceRecord[]): void {
    const delim = this.delimiter;
    let seg = 0; // start of the field text not yet copied into this.field
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (this.inQuotes) {
        if (c === QUOTE) {
          if (text.charCodeAt(i + 1) === QUOTE) {
            this.field += text.slice(seg, i + 1);
            i++;
            seg = i + 1;
          } else {
            this.field += text.slice(seg, i);
            this.inQuotes = false;
            this.afterQuote = true;
            seg = i + 1;
          }
        } else if (c === LF) this.line++;
        continue;
      }
      if (c === delim) {
        this.field += text.slice(seg, i);
        this.endField();
        seg = i + 1;
      } else if (c === LF) {
        this.field += text.slice(seg, i);
        this.endRow(out);
        this.line++;
        seg = i + 1;
      } else if (c === CR) {
        // Part of a CRLF (or a stray CR): never field text outside quotes.
        this.field += text.slice(seg, i);
        seg = i + 1;
      } else if (c === QUOTE && this.field === '' && seg === i && !this.afterQuote) {
        this.inQuotes = true;
        seg = i + 1;
      } else if (this.afterQuote) {
        this.problem ??= `text after a closing quote in field ${this.fields.length + 1}`;
        this.afterQuote = false;
      }
    }
    this.field += text.slice(seg);
    this.rowBytes += n;
    if (this.rowBytes > MAX_RECORD_BYTES && (this.fields.length > 0 || this.field !== '')) {
      throw new FileFormatError(this.file, `the row starting on line ${this.rowLine} is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB (an unclosed quote?)`);
    }
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.afterQuote = false;
  }

  private endRow(out: SourceRecord[]): void {
    const blank = this.fields.length === 0 && this.field === '' && !this.afterQuote;
    this.endField();
    const fields = this.fields;
    const line = this.rowLine;
    let invalid = false;
    for (let l = line; l <= this.line; l++) if (this.badLines.has(l)) invalid = true;
    this.fields = [];
    this.rowLine = this.line + 1;
    this.rowBytes = 0;
    const problem = this.problem;
    this.problem = null;
    if (blank) return;
    if (this.header === null) {
      this.setHeader(fields, invalid);
      return;
    }
    if (invalid) out.push({ line, error: 'invalid UTF-8' });
    else if (problem) out.push({ line, error: `malformed CSV: ${problem}` });
    else if (fields.length !== this.header.length) {
      out.push({ line, error: `expected ${this.header.length} fields (as in the header), found ${fields.length}` });
    } else {
      const value: Record<string, string> = {};
      for (let k = 0; k < fields.length; k++) value[this.header[k]] = fields[k];
      out.push({ line, value });
    }
  }

  private setHeader(fields: string[], invalid: boolean): void {
    if (invalid) throw new FileFormatError(this.file, 'the header row is not valid UTF-8');
    const names = fields.map((f, i) => f.trim() || `column_${i + 1}`);
    const dup = names.find((name, i) => names.indexOf(name) !== i);
    if (dup) throw new FileFormatError(this.file, `the header names the column "${dup}" twice`);
    this.header = names;
  }

  finish(out: SourceRecord[]): void {
    if (this.inQuotes) {
      out.push({ line: this.rowLine, error: `truncated: the file ends inside a quoted field` });
      return;
    }
    if (this.fields.length > 0 || this.field !== '' || this.afterQuote) this.endRow(out);
  }
}

/** Decode `bytes` (whole lines), noting the lines that are not UTF-8. */
function decodeLines(bytes: Buffer, parser: CsvParser): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  const parts: string[] = [];
  let line = parser.line;
  let start = 0;
  while (start <= bytes.length) {
    let nl = bytes.indexOf(LF, start);
    if (nl < 0) nl = bytes.length;
    const piece = bytes.subarray(start, nl);
    const text = decodeStrict(piece);
    if (text === null) parser.badLines.add(line);
    parts.push(text ?? piece.toString('utf8'));
    line++;
    start = nl + 1;
  }
  return parts.join('\n');
}

export async function* readCsv(file: string, delimiter: ',' | '\t'): RecordReader {
  const kind = delimiter === ',' ? 'CSV' : 'TSV';
  const parser = new CsvParser(file, delimiter.charCodeAt(0));
  let carry: Buffer | null = null;
  let bytesRead = 0;
  let first = true;
  for await (const raw of readChunks(file)) {
    bytesRead += raw.length;
    const chunk = first ? checkTextStart(raw, file, kind) : raw;
    first = false;
    const joined: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    // Cut after the last line break so no UTF-8 character is split between two pushes.
    const nl = joined.lastIndexOf(LF);
    if (nl < 0) {
      carry = joined;
      if (carry.length > MAX_RECORD_BYTES) throw new FileFormatError(file, `line ${parser.line} is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB`);
      continue;
    }
    carry = joined.subarray(nl + 1);
    const records: SourceRecord[] = [];
    parser.push(decodeLines(joined.subarray(0, nl + 1), parser), records);
    yield { records, bytesRead: bytesRead - carry.length };
  }
  if (first) return;
  const records: SourceRecord[] = [];
  if (carry && carry.length > 0) parser.push(decodeLines(carry, parser), records);
  parser.finish(records);
  if (parser.header === null) throw new FileFormatError(file, `no header row: a ${kind} dataset starts with a row of column names`);
  yield { records, bytesRead };
}
