/**
 * A model's tokenizer: @huggingface/tokenizers over `tokenizer.json` + `tokenizer_config.json`,
 * plus what transformers layers on top: the special tokens named in tokenizer_config.json,
 * `add_bos_token` / `add_eos_token` (which win over tokenizer.json's post-processor, as in
 * LlamaTokenizerFast), and the chat template (`chat_template.jinja` beside the config, else
 * `chat_template` in tokenizer_config.json, which may also be a list of named templates).
 *
 * Only the fast-tokenizer file is read; a folder with just tokenizer.model or vocab.json +
 * merges.txt is refused with a message that says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

export interface EncodeOptions {
  /** Add BOS/EOS as the tokenizer is configured to (default true). Pass false for text rendered by a chat template, which already has them. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export class ModelTokenizer {
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly padToken: string | null;
  readonly unkToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Ids of every token marked special (BOS, EOS, chat markers, ...). */
  readonly specialTokenIds: ReadonlySet<number>;
  /** The Jinja chat template, or null when the model has none. */
  readonly chatTemplate: string | null;
  /** Largest id + 1 over the vocabulary and added tokens. */
  readonly vocabSize: number;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  /** tokenizer_config.json sets neither flag: let tokenizer.json's post-processor add specials. */
  private readonly usePostProcessor: boolean;

  constructor(
    private readonly tokenizer: Tokenizer,
    config: Record<string, unknown>,
    chatTemplate: string | null,
  ) {
    const tokenText = (key: string) => specialTokenContent(config[key]);
    this.bosToken = tokenText('bos_token');
    this.eosToken = tokenText('eos_token');
    this.padToken = tokenText('pad_token');
    this.unkToken = tokenText('unk_token');
    this.bosTokenId = this.idOf(this.bosToken);
    this.eosTokenId = this.idOf(this.eosToken);
    this.padTokenId = this.idOf(this.padToken);
    this.specialTokenIds = new Set([...tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id));
    this.chatTemplate = chatTemplate;
    const vocab = tokenizer.get_vocab(true);
    this.vocabSize = Math.max(0, ...vocab.values()) + 1;

    // What tokenizer.json's post-processor does, used when tokenizer_config.json is silent.
    const probe = tokenizer.encode('a', { add_special_tokens: true }).ids;
    const bare = tokenizer.encode('a', { add_special_tokens: false }).ids;
    const postAddsBos = this.bosTokenId !== null && probe[0] === this.bosTokenId && bare[0] !== this.bosTokenId;
    const postAddsEos = this.eosTokenId !== null && probe.at(-1) === this.eosTokenId && bare.at(-1) !== this.eosTokenId;
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : postAddsBos;
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : postAddsEos;
    this.usePostProcessor = typeof config.add_bos_token !== 'boolean' && typeof config.add_eos_token !== 'boolean';
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecialTokens ?? true;
    if (addSpecial && this.usePostProcessor) return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (!addSpecial) return ids;
    const bos = this.addBos && this.bosTokenId !== null ? [this.bosTokenId] : [];
    const eos = this.addEos && this.eosTokenId !== null ? [this.eosTokenId] : [];
    return [...bos, ...ids, ...eos];
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | null {
    return this.tokenizer.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.tokenizer.id_to_token(id) ?? null;
  }

  /** Values a chat template reads besides `messages` (bos_token, eos_token, ...). */
  templateVariables(): Record<string, string> {
    const vars: Record<string, string> = {};
    if (this.bosToken !== null) vars.bos_token = this.bosToken;
    if (this.eosToken !== null) vars.eos_token = this.eosToken;
    if (this.padToken !== null) vars.pad_token = this.padToken;
    if (this.unkToken !== null) vars.unk_token = this.unkToken;
    return vars;
  }

  private idOf(token: string | null): number | null {
    return token === null ? null : (this.tokenizer.token_to_id(token) ?? null);
  }
}

/** tokenizer_config.json writes a special token as a string or as an AddedToken object. */
function specialTokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

function readJsonObject(file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenizerLoadError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerLoadError(`${file}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The template transformers would use: chat_template.jinja, else tokenizer_config's (the "default" one of a list). */
function findChatTemplate(dir: string, config: Record<string, unknown>): string | null {
  const jinja = path.join(dir, CHAT_TEMPLATE_FILE);
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const def = named.find((x) => x.name === 'default') ?? named[0];
    if (def && typeof def.template === 'string') return def.template;
  }
  return null;
}

/** Throws unless `dir` has tokenizer.json (cheap: nothing parsed). */
export function checkTokenizerPresent(dir: string): void {
  if (fs.existsSync(path.join(dir, TOKENIZER_FILE))) return;
  const slow = ['tokenizer.model', 'vocab.json', 'merges.txt'].filter((f) => fs.existsSync(path.join(dir, f)));
  const found = slow.length > 0 ? ` (found ${slow.join(', ')}: save the tokenizer with a recent transformers version to get tokenizer.json)` : '';
  throw new TokenizerLoadError(`${dir}: missing tokenizer: no ${TOKENIZER_FILE}${found}`);
}

/** Loads the tokenizer of a model folder; errors name the file and what is wrong. */
export function loadTokenizer(dir: string): ModelTokenizer {
  const jsonPath = path.join(dir, TOKENIZER_FILE);
  const configPath = path.join(dir, TOKENIZER_CONFIG_FILE);
  checkTokenizerPresent(dir);
  const tokenizerJson = readJsonObject(jsonPath);
  const config = fs.existsSync(configPath) ? readJsonObject(configPath) : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, config);
  } catch (err) {
    throw new TokenizerLoadError(`${jsonPath}: cannot build the tokenizer (${(err as Error).message})`);
  }
  return new ModelTokenizer(tokenizer, config, findChatTemplate(dir, config));
}

/**
 * Turns a growing list of generated ids into text pieces for streaming. Decodes a small window
 * (previous piece + new tokens) so SentencePiece's leading-space rule and multi-token UTF-8
 * characters come out right; holds text back while it ends in an incomplete character (U+FFFD).
 */
export class IncrementalDecoder {
  private ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(
    private readonly tokenizer: ModelTokenizer,
    private readonly opts: DecodeOptions = {},
  ) {}

  /** Adds one token; returns the text it completes ('' while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.opts);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.opts);
    if (full.length > prefix.length && !full.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return full.slice(prefix.length);
    }
    return '';
  }

  /** Text still held back (an incomplete character at the end). */
  flush(): string {
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.opts);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.opts);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }
}
