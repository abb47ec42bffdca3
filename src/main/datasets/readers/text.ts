/**
 * Plain text (.txt, .md): one example per file, or one per block of lines separated by blank
 * lines. Line endings become "\n"; the text is otherwise kept as written.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { FileFormatError, MAX_RECORD_BYTES, checkTextStart, decodeStrict, readChunks, type RecordReader, type SourceRecord } from './source';

export async function* readTextFile(file: string): RecordReader {
  const size = (await fs.promises.stat(file)).size;
  if (size > MAX_RECORD_BYTES) {
    throw new FileFormatError(file, `is ${(size / 2 ** 20).toFixed(0)} MiB, too large for one example; import it per block of lines instead`);
  }
  const raw = await fs.promises.readFile(file);
  if (raw.length === 0) return;
  const bytes = checkTextStart(raw, file, 'text');
  const text = decodeStrict(bytes);
  const record: SourceRecord = text === null ? { line: 1, error: 'invalid UTF-8' } : { line: 1, value: { text: text.replace(/\r\n/g, '\n') } };
  yield { records: [record], bytesRead: raw.length };
}

/** Blocks of non-blank lines; each block's record carries the line it starts on. */
export async function* readTextBlocks(file: string): RecordReader {
  let carry: Buffer | null = null;
  let bytesRead = 0;
  let first = true;
  let line = 1;
  let block: string[] = [];
  let blockLine = 0;
  let blockBytes = 0;
  let blockBad = false;
  const flush = (out: SourceRecord[]) => {
    if (block.length === 0 && !blockBad) return;
    if (blockBad) out.push({ line: blockLine, error: 'invalid UTF-8' });
    else if (blockBytes > MAX_RECORD_BYTES) out.push({ line: blockLine, error: `block is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB` });
    else out.push({ line: blockLine, value: { text: block.join('\n') } });
    block = [];
    blockBytes = 0;
    blockBad = false;
  };
  const addLines = (buf: Buffer, out: SourceRecord[], final: boolean) => {
    const ok = isUtf8(buf);
    const lines = ok ? buf.toString('utf8').split('\n') : null;
    const rawLines: (string | null)[] = lines ?? splitBytes(buf).map(decodeStrict);
    // `buf` ends with a line break unless it is the end of the file: the last piece is not a line.
    if (!final) rawLines.pop();
    for (const l of rawLines) {
      const s = l === null ? null : l.endsWith('\r') ? l.slice(0, -1) : l;
      if (s !== null && s.trim() === '') flush(out);
      else {
        if (block.length === 0 && !blockBad) blockLine = line;
        if (s === null) blockBad = true;
        else if (blockBytes <= MAX_RECORD_BYTES) {
          block.push(s);
          blockBytes += s.length;
        }
      }
      line++;
    }
  };
  for await (const raw of readChunks(file)) {
    bytesRead += raw.length;
    const chunk = first ? checkTextStart(raw, file, 'text') : raw;
    first = false;
    const joined: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    const nl = joined.lastIndexOf(10);
    if (nl < 0) {
      carry = joined;
      if (carry.length > MAX_RECORD_BYTES) throw new FileFormatError(file, `line ${line} is longer than ${MAX_RECORD_BYTES / 2 ** 20} MiB`);
      continue;
    }
    carry = joined.subarray(nl + 1);
    const records: SourceRecord[] = [];
    addLines(joined.subarray(0, nl + 1), records, false);
    yield { records, bytesRead: bytesRead - carry.length };
  }
  if (first) return;
  const records: SourceRecord[] = [];
  if (carry && carry.length > 0) addLines(carry, records, true);
  flush(records);
  yield { records, bytesRead };
}

function splitBytes(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl < 0) {
      out.push(buf.subarray(start));
      return out;
    }
    out.push(buf.subarray(start, nl));
    start = nl + 1;
  }
}
