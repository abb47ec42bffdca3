/**
 * The words the dataset code shares: containers (how the file is laid out), shapes (what one
 * example looks like), and the normalised example stored in dataset_rows.data_json.
 */

/** How examples are laid out on disk. */
export const CONTAINERS = ['jsonl', 'json', 'csv', 'tsv', 'parquet', 'text'] as const;
export type Container = (typeof CONTAINERS)[number];

/** What one example looks like (docs/formats.md, "Dataset shapes users bring"). */
export const SHAPES = ['alpaca', 'sharegpt', 'messages', 'prompt-completion', 'text'] as const;
export type Shape = (typeof SHAPES)[number];

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface Message {
  role: Role;
  content: string;
  /** OpenAI fine-tuning's per-message switch: an assistant turn with weight 0 is shown but not trained. */
  weight?: 0 | 1;
}

/** What a row is stored as: a conversation or a plain text. */
export type Example = { messages: Message[] } | { text: string };

/**
 * Which source key holds each field a shape needs, e.g. `{prompt: 'question', completion: 'answer'}`.
 * Fields: alpaca instruction/input/output/system; sharegpt conversations/from/value/system;
 * messages messages/role/content; prompt-completion prompt/completion/system; text text.
 */
export type Mapping = Record<string, string>;

/** One line (or CSV row, Parquet row, text block) that could not become an example. */
export interface SkippedLine {
  line: number;
  reason: string;
  /** The file it came from, when a folder was imported. */
  file?: string;
}

/** How plain .txt/.md files are cut into examples. */
export type TextUnit = 'file' | 'block';

export function isChat(example: Example): example is { messages: Message[] } {
  return 'messages' in example;
}
