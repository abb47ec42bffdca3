/**
 * Writes examples/datasets/chat.parquet from examples/datasets/messages.jsonl: the OpenAI chat
 * rows as a Parquet `messages: list<struct<role, content>>` column (the layout Hugging Face
 * datasets use), snappy-compressed. Run: npx tsx scripts/make-example-parquet.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetWriteFile } from 'hyparquet-writer';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'datasets');

/** Parquet's three-level list of structs (what pyarrow writes for list<struct<role, content>>). */
export const MESSAGES_SCHEMA = [
  { name: 'root', num_children: 1 },
  { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
] as const;

const rows = fs
  .readFileSync(path.join(dir, 'messages.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => (JSON.parse(l) as { messages: { role: string; content: string }[] }).messages.map(({ role, content }) => ({ role, content })));

const out = path.join(dir, 'chat.parquet');
parquetWriteFile({
  filename: out,
  columnData: [{ name: 'messages', data: rows }],
  schema: MESSAGES_SCHEMA as never,
  createdBy: 'lora-studio scripts/make-example-parquet.ts',
});
console.log(`wrote ${out} (${rows.length} rows, ${fs.statSync(out).size} bytes)`);
