/**
 * Text generation: a batch of prompts (token ids), left-padded to one length with an attention
 * mask, a prefill forward over the prompts, then one token per step through the KV cache (or,
 * with `useCache: false`, a full forward per step — the slow reference the cache is tested
 * against). Sampling per ./sampling.ts with one seeded PRNG drawn row by row.
 *
 * A row finishes on an EOS id (`eosTokenIds`, e.g. generation_config.json's list), on a stop
 * string (needs `tokenizer`; the returned text ends before it), or at `maxNewTokens`. Finished
 * rows are fed padding until every row is done. `onToken` receives each chosen token with the
 * text it completes; text that might be the start of a stop string is held back until it is not.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import type { CausalLM } from './models/causal-lm';
import type { KVCache } from './models/kv-cache';
import { Rng, sampleToken, type SamplingOptions } from './sampling';
import { IncrementalDecoder, type ModelTokenizer } from './tokenizer';

export interface TokenEvent {
  /** Index of the prompt in the batch. */
  row: number;
  /** The chosen token, or null for a last event that only flushes held-back text. */
  tokenId: number | null;
  /** Newly final text ('' when held back, or without a tokenizer). */
  text: string;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Any of these ends a row (the EOS token is kept in `tokens`, not in `text`). */
  eosTokenIds?: readonly number[];
  /** Any of these in the generated text ends a row; requires `tokenizer`. */
  stopStrings?: readonly string[];
  /** Fed to the model at padded/finished positions (masked out). Default: first EOS id, else 0. */
  padTokenId?: number;
  seed?: number;
  /** Default true. */
  useCache?: boolean;
  /** To produce text and check stop strings. */
  tokenizer?: ModelTokenizer;
  onToken?: (ev: TokenEvent) => void;
  signal?: AbortSignal;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'aborted';

export interface GenerateResult {
  /** Generated ids per prompt (prompt not included). */
  tokens: number[][];
  /** Generated text per prompt (special tokens skipped, cut before a stop string); [] without a tokenizer. */
  texts: string[];
  finishReasons: FinishReason[];
  /** Time of the prompt forward, ms. */
  prefillMs: number;
  /** Time of every later step together, ms. */
  decodeMs: number;
  /** Number of decode steps run (tokens per row after the first). */
  decodeSteps: number;
}

class RowState {
  readonly tokens: number[] = [];
  finish: FinishReason | null = null;
  text = '';
  emitted = 0;

  constructor(
    readonly seen: number[],
    readonly decoder: IncrementalDecoder | null,
  ) {}
}

export async function generate(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GenerateResult> {
  if (prompts.length === 0) throw new Error('generate: no prompts');
  if (prompts.some((p) => p.length === 0)) throw new Error('generate: every prompt needs at least one token');
  const stops = (opts.stopStrings ?? []).filter((s) => s.length > 0);
  if (stops.length > 0 && !opts.tokenizer) throw new Error('generate: stop strings need a tokenizer');
  const eos = new Set(opts.eosTokenIds ?? []);
  const pad = opts.padTokenId ?? opts.eosTokenIds?.[0] ?? 0;
  const B = prompts.length;
  const useCache = opts.useCache ?? true;
  const rng = new Rng(opts.seed ?? 0);
  const rows = prompts.map((p) => new RowState([...p], opts.tokenizer ? new IncrementalDecoder(opts.tokenizer, { skipSpecialTokens: true }) : null));

  // Left padding: every row ends at the same column, so the last position is each row's next token.
  const promptLen = Math.max(...prompts.map((p) => p.length));
  const ids: number[][] = prompts.map((p) => [...new Array<number>(promptLen - p.length).fill(pad), ...p]);
  const mask: number[][] = prompts.map((p) => [...new Array<number>(promptLen - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  let masked = prompts.some((p) => p.length < promptLen); // any 0 in `mask`

  const cache = useCache ? model.newCache() : undefined;
  const result: GenerateResult = { tokens: [], texts: [], finishReasons: [], prefillMs: 0, decodeMs: 0, decodeSteps: 0 };
  try {
    let inputIds: number[][] = ids;
    for (let step = 0; step < opts.maxNewTokens; step++) {
      // Yield to the event loop between tokens: a cancel (and every other call the engine
      // serves meanwhile) must get through while a long answer is being generated.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (opts.signal?.aborted) {
        for (const r of rows) r.finish ??= 'aborted';
        break;
      }
      const t0 = performance.now();
      const logits = await forwardLast(model, inputIds, masked ? mask : null, cache); // [B * V]
      const ms = performance.now() - t0;
      if (step === 0) result.prefillMs = ms;
      else {
        result.decodeMs += ms;
        result.decodeSteps++;
      }

      const V = logits.length / B;
      const next: number[] = [];
      const active = rows.map((r) => r.finish === null);
      rows.forEach((r, b) => {
        if (!active[b]) {
          next.push(pad);
          return;
        }
        const id = sampleToken(logits.subarray(b * V, (b + 1) * V), r.seen, opts, rng);
        next.push(id);
        r.tokens.push(id);
        r.seen.push(id);
        if (eos.has(id)) r.finish = 'eos';
        else if (r.tokens.length >= opts.maxNewTokens) r.finish = 'length';
        const shown = advanceText(r, r.decoder && !eos.has(id) ? r.decoder.push(id) : '', stops);
        opts.onToken?.({ row: b, tokenId: id, text: shown });
      });
      if (rows.every((r) => r.finish)) break;

      rows.forEach((_, b) => {
        ids[b].push(next[b]);
        mask[b].push(active[b] ? 1 : 0);
        if (!active[b]) masked = true;
      });
      inputIds = useCache ? next.map((id) => [id]) : ids;
    }
  } finally {
    cache?.dispose();
  }

  for (const [b, r] of rows.entries()) {
    r.finish ??= 'length';
    if (r.decoder && r.finish !== 'stop') {
      const rest = advanceText(r, r.decoder.flush(), stops) + flushText(r);
      if (rest) opts.onToken?.({ row: b, tokenId: null, text: rest });
    }
    result.tokens.push(r.tokens);
    result.finishReasons.push(r.finish);
    if (opts.tokenizer) result.texts.push(r.text);
  }
  return result;
}

/** One forward; returns the last position's logits of every row, [B * V], on the CPU. */
async function forwardLast(model: CausalLM, inputIds: number[][], mask: number[][] | null, cache: KVCache | undefined): Promise<Float32Array> {
  const B = inputIds.length;
  const T = inputIds[0].length;
  const ids = tf.tensor2d(inputIds.flat(), [B, T], 'int32');
  const attentionMask: Tensor | undefined = mask ? tf.tensor2d(mask.flat(), [B, mask[0].length], 'int32') : undefined;
  try {
    const logits = model.forward(ids, { attentionMask, cache, lastPositionOnly: true }); // [B, 1, V]
    const data = (await logits.data()) as Float32Array;
    logits.dispose();
    return data;
  } finally {
    ids.dispose();
    attentionMask?.dispose();
  }
}

/**
 * Appends `piece` to the row's text, ends the row at a stop string, and returns the text that is
 * now safe to show (not possibly the start of a stop string).
 */
function advanceText(r: RowState, piece: string, stops: readonly string[]): string {
  if (!piece && stops.length === 0) return '';
  const searchFrom = Math.max(0, r.emitted - Math.max(0, ...stops.map((s) => s.length)));
  r.text += piece;
  let cut = -1;
  for (const s of stops) {
    const at = r.text.indexOf(s, searchFrom);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  if (cut >= 0) {
    r.text = r.text.slice(0, cut);
    r.finish = 'stop';
    return flushText(r);
  }
  let safe = r.text.length;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, r.text.length); n > 0; n--) {
      if (r.text.endsWith(s.slice(0, n))) {
        safe = Math.min(safe, r.text.length - n);
        break;
      }
    }
  }
  if (r.finish) safe = r.text.length; // the row ended another way: nothing to wait for
  const out = r.text.slice(r.emitted, safe);
  r.emitted = Math.max(r.emitted, safe);
  return out;
}

function flushText(r: RowState): string {
  const out = r.text.slice(r.emitted);
  r.emitted = r.text.length;
  return out;
}
