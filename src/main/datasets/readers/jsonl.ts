/**
 * JSON Lines: one JSON value per line, read in chunks so memory stays bounded by the chunk size
 * and the longest line. CRLF endings, a UTF-8 byte-order mark and blank lines are accepted; a line
 * of invalid UTF-8 or bad JSON becomes a record error with its line number.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_RECORD_BYTES, badJsonReason, checkTextStart, decodeStrict, readChunks, type RecordReader, type SourceRecord, type StoredFormProbe } from './source';

const LF = 0x0a;
const CR = 0x0d;

/** One line: `text` is its decoded text and `raw` its bytes (both without the "\n"). */
function parseLine(text: string, raw: Buffer, line: number, out: SourceRecord[]): void {
  const cr = text.endsWith('\r');
  const s = cr ? text.slice(0, -1) : text;
  if (s.trim() === '') return;
  try {
    out.push({ line, value: JSON.parse(s), text: s, raw: cr ? raw.subarray(0, raw.length - 1) : raw });
  } catch (err) {
    out.push({ line, error: badJsonReason(s, err) });
  }
}

/**
 * Lines of valid UTF-8, each offered to `test` as bytes first: a line in stored form is kept as
 * those bytes, unparsed; any other is decoded and parsed alone.
 */
function probeLines(buf: Buffer, firstLine: number, out: SourceRecord[], test: (raw: Uint8Array) => boolean): number {
  let line = firstLine;
  let start = 0;
  for (;;) {
    let nl = buf.indexOf(LF, start);
    if (nl < 0) nl = buf.length;
    const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
    const raw = buf.subarray(start, end);
    if (test(raw)) out.push({ line, raw, stored: true });
    else parseLine(buf.toString('utf8', start, nl), buf.subarray(start, nl), line, out);
    line++;
    if (nl === buf.length) return line;
    start = nl + 1;
  }
}

/** Parse `buf`, the text between two newlines (or the file's ends): every "\n" inside starts a line. */
function parseLines(buf: Buffer, firstLine: number, out: SourceRecord[], probe?: StoredFormProbe): number {
  let line = firstLine;
  if (isUtf8(buf)) {
    if (probe?.test) return probeLines(buf, firstLine, out, probe.test);
    // One decode for the whole stretch; "\n" is one byte in UTF-8 and one char in the text, so the
    // byte and char positions of each line advance together.
    const text = buf.toString('utf8');
    let start = 0;
    let byteStart = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const byteNl = buf.indexOf(LF, byteStart);
      parseLine(text.slice(start, nl), buf.subarray(byteStart, byteNl), line++, out);
      start = nl + 1;
      byteStart = byteNl + 1;
    }
    parseLine(text.slice(start), buf.subarray(byteStart), line++, out);
    return line;
  }
  // Some line in this stretch is not UTF-8: decode line by line to find which.
  let start = 0;
  for (;;) {
    let nl = buf.indexOf(LF, start);
    if (nl < 0) nl = buf.length;
    const bytes = buf.subarray(start, nl);
    const text = decodeStrict(bytes);
    if (text === null) out.push({ line, error: 'invalid UTF-8' });
    else parseLine(text, bytes, line, out);
    line++;
    if (nl === buf.length) return line;
    start = nl + 1;
  }
}

const overlong = (line: number): SourceRecord => ({ line, error: `line is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB` });

/** `probe`: see StoredFormProbe (the importer's fast path for lines already in stored form). */
export async function* readJsonl(file: string, probe?: StoredFormProbe): RecordReader {
  // The unfinished last line of the chunks read so far.
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let line = 1;
  let bytesRead = 0;
  let first = true;
  // A line longer than MAX_RECORD_BYTES is dropped as it streams past, then reported once.
  let overlongLine = 0;
  for await (const raw of readChunks(file)) {
    bytesRead += raw.length;
    let chunk = first ? checkTextStart(raw, file, 'JSON Lines') : raw;
    first = false;
    const records: SourceRecord[] = [];
    if (overlongLine) {
      const end = chunk.indexOf(10);
      if (end < 0) continue;
      records.push(overlong(overlongLine));
      line = overlongLine + 1;
      overlongLine = 0;
      chunk = chunk.subarray(end + 1);
    }
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      carry.push(chunk);
      carryBytes += chunk.length;
      if (carryBytes > MAX_RECORD_BYTES) {
        overlongLine = line;
        carry = [];
        carryBytes = 0;
      }
      if (records.length) yield { records, bytesRead: bytesRead - carryBytes };
      continue;
    }
    const head = chunk.subarray(0, nl);
    line = parseLines(carry.length ? Buffer.concat([...carry, head]) : head, line, records, probe);
    const rest = chunk.subarray(nl + 1);
    carry = rest.length ? [rest] : [];
    carryBytes = rest.length;
    yield { records, bytesRead: bytesRead - carryBytes };
  }
  if (first) return; // empty file: the importer reports "no records"
  const records: SourceRecord[] = [];
  if (overlongLine) records.push(overlong(overlongLine));
  else if (carryBytes > 0) {
    parseLines(Buffer.concat(carry), line, records, probe);
    const last = records[records.length - 1];
    if (last?.error?.startsWith('bad JSON')) last.error += ' (the last line has no newline: the file may be cut short)';
  }
  yield { records, bytesRead };
}
