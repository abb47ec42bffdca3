/**
 * Choosing the next token from one row of logits, as transformers' logits processors do, in their
 * order: repetition penalty → temperature → top-k → top-p → sample. Temperature 0 means greedy
 * (argmax after the repetition penalty). Runs on the CPU over a Float32Array of V logits.
 *
 * The PRNG is our own (mulberry32), so a seed gives the same tokens on every backend and machine.
 */

export interface SamplingOptions {
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (ties kept); 0 = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 = off. */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (prompt included); 1 = off. */
  repetitionPenalty?: number;
}

/** mulberry32: a small, fast 32-bit PRNG; `next()` is uniform in [0, 1). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** transformers' RepetitionPenaltyLogitsProcessor: seen tokens' logits divided (if > 0) or multiplied (if < 0) by `penalty`. Mutates `logits`. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= logits.length) continue;
    const l = logits[id];
    logits[id] = l < 0 ? l * penalty : l / penalty;
  }
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * Candidate tokens and their probabilities after temperature, top-k and top-p, most likely first.
 * Exposed for tests; `sampleToken` draws from it.
 */
export function candidateDistribution(logits: Float32Array, opts: SamplingOptions): { ids: number[]; probs: number[] } {
  const temperature = opts.temperature ?? 1;
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];

  // Top-k: the k-th largest logit is the threshold; ties with it stay (as torch.topk-based filtering does).
  let threshold = -Infinity;
  const k = opts.topK ?? 0;
  if (k > 0 && k < V) threshold = kthLargest(logits, k);

  const ids: number[] = [];
  const weights: number[] = [];
  let total = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] < threshold || logits[i] === -Infinity) continue;
    const w = Math.exp((logits[i] - max) / temperature);
    ids.push(i);
    weights.push(w);
    total += w;
  }
  const order = ids.map((_, j) => j).sort((a, b) => weights[b] - weights[a] || ids[a] - ids[b]);
  let sortedIds = order.map((j) => ids[j]);
  let probs = order.map((j) => weights[j] / total);

  const p = opts.topP ?? 1;
  if (p < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length) {
      cum += probs[keep++];
      if (cum >= p) break;
    }
    sortedIds = sortedIds.slice(0, keep);
    probs = probs.slice(0, keep);
    const kept = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((q) => q / kept);
  }
  return { ids: sortedIds, probs };
}

/** Chooses the next token from `logits` (mutated by the repetition penalty). */
export function sampleToken(logits: Float32Array, seen: Iterable<number>, opts: SamplingOptions, rng: Rng): number {
  applyRepetitionPenalty(logits, seen, opts.repetitionPenalty ?? 1);
  if (!opts.temperature || opts.temperature <= 0) return argmax(logits);
  const { ids, probs } = candidateDistribution(logits, opts);
  const u = rng.next();
  let cum = 0;
  for (let i = 0; i < ids.length; i++) {
    cum += probs[i];
    if (u < cum) return ids[i];
  }
  return ids[ids.length - 1]; // u within rounding of 1
}

function kthLargest(x: Float32Array, k: number): number {
  const copy = Float32Array.from(x).sort(); // ascending, typed sort: fast even for 150k entries
  return copy[copy.length - k];
}
