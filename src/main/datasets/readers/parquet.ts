/**
 * Parquet through hyparquet (snappy built in; gzip, zstd, brotli and lz4 from
 * hyparquet-compressors), one row group at a time so memory follows the row group size, not the
 * file size. Lists of structs (`messages: [{role, content}]`) arrive as arrays of objects.
 */
import fs from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { FileFormatError, type RecordReader, type SourceRecord } from './source';

/** Rows decoded per read inside a big row group (hyparquet decodes a group from its start). */
const MAX_ROWS_PER_READ = 100_000;

/** Parquet integers may come back as BigInt, which JSON cannot hold. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

export async function* readParquet(file: string): RecordReader {
  const size = (await fs.promises.stat(file)).size;
  if (size === 0) return;
  const buffer = await asyncBufferFromFile(file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    throw new FileFormatError(file, `not a readable Parquet file: ${(err as Error).message}`);
  }
  const total = Number(metadata.num_rows);
  let row = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const groupEnd = row + groupRows;
    while (row < groupEnd) {
      const end = Math.min(groupEnd, row + MAX_ROWS_PER_READ);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, rowStart: row, rowEnd: end, compressors: compressors as never });
      } catch (err) {
        throw new FileFormatError(file, `cannot read rows ${row + 1}–${end}: ${(err as Error).message}`);
      }
      const records: SourceRecord[] = rows.map((r, i) => ({ line: row + i + 1, value: plain(r) }));
      row = end;
      yield { records, bytesRead: total > 0 ? Math.round((size * row) / total) : size };
    }
  }
}
