/**
 * JSON Lines: one JSON value per line, read in chunks so memory stays bounded by the chunk size
 * and the longest line. CRLF endings, a UTF-8 byte-order mark and blank lines are accepted; a line
 * of invalid UTF-8 or bad JSON becomes a record error with its line number.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_RECORD_BYTES, badJsonReason, checkTextStart, decodeStrict, readChunks, type RecordReader, type SourceRecord } from './source';

function parseLine(text: string, line: number, out: SourceRecord[]): void {
  const s = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (s.trim() === '') return;
  try {
    out.push({ line, value: JSON.parse(s), text: s });
  } catch (err) {
    out.push({ line, error: badJsonReason(s, err) });
  }
}

/** Parse `buf`, the text between two newlines (or the file's ends): every "\n" inside starts a line. */
function parseLines(buf: Buffer, firstLine: number, out: SourceRecord[]): number {
  let line = firstLine;
  if (isUtf8(buf)) {
    const text = buf.toString('utf8');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      parseLine(text.slice(start, nl), line++, out);
      start = nl + 1;
    }
    parseLine(text.slice(start), line++, out);
    return line;
  }
  // Some line in this stretch is not UTF-8: decode line by line to find which.
  let start = 0;
  for (;;) {
    let nl = buf.indexOf(10, start);
    if (nl < 0) nl = buf.length;
    const text = decodeStrict(buf.subarray(start, nl));
    if (text === null) out.push({ line, error: 'invalid UTF-8' });
    else parseLine(text, line, out);
    line++;
    if (nl === buf.length) return line;
    start = nl + 1;
  }
}

const overlong = (line: number): SourceRecord => ({ line, error: `line is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB` });

export async function* readJsonl(file: string): RecordReader {
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
    line = parseLines(carry.length ? Buffer.concat([...carry, head]) : head, line, records);
    const rest = chunk.subarray(nl + 1);
    carry = rest.length ? [rest] : [];
    carryBytes = rest.length;
    yield { records, bytesRead: bytesRead - carryBytes };
  }
  if (first) return; // empty file: the importer reports "no records"
  const records: SourceRecord[] = [];
  if (overlongLine) records.push(overlong(overlongLine));
  else if (carryBytes > 0) {
    parseLines(Buffer.concat(carry), line, records);
    const last = records[records.length - 1];
    if (last?.error?.startsWith('bad JSON')) last.error += ' (the last line has no newline: the file may be cut short)';
  }
  yield { records, bytesRead };
}
