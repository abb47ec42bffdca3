/**
 * The train/eval split: exactly round(n × fraction) rows go to eval, chosen by a seeded
 * generator, so the same seed and fraction always give the same split of the same rows.
 * Selection sampling (Knuth's Algorithm S) walks the indices once and needs no array of n.
 */

/** mulberry32: a small, fast 32-bit generator; enough for choosing rows. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `n` rows go to eval: at least one when asked for any, never all of them. */
export function evalCount(n: number, fraction: number): number {
  if (fraction <= 0 || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
}

export function splitSizes(n: number, fraction: number): { train: number; eval: number } {
  const e = evalCount(n, fraction);
  return { train: n - e, eval: e };
}

/** The eval row indices (ascending) for `n` rows. */
export function* evalIndices(n: number, fraction: number, seed: number): Generator<number, void, void> {
  let needed = evalCount(n, fraction);
  const random = mulberry32(seed);
  for (let i = 0; i < n && needed > 0; i++) {
    if (random() * (n - i) < needed) {
      needed--;
      yield i;
    }
  }
}
