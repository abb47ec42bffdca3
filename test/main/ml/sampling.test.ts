import { describe, expect, it } from 'vitest';
import { Rng, applyRepetitionPenalty, argmax, candidateDistribution, sampleToken } from '../../../src/main/ml/sampling';

const logits = (xs: number[]) => Float32Array.from(xs);

describe('Rng', () => {
  it('is deterministic per seed and uniform on [0, 1)', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(new Rng(43).next()).not.toBe(new Rng(42).next());
  });
});

describe('logits processing', () => {
  it('repetition penalty divides positive and multiplies negative logits of seen tokens, once each', () => {
    const l = logits([2, -2, 1, 4]);
    applyRepetitionPenalty(l, [0, 1, 1, 7], 2);
    expect(Array.from(l)).toEqual([1, -4, 1, 4]);
  });

  it('greedy (temperature 0) takes the argmax after the penalty', () => {
    expect(sampleToken(logits([1, 3, 2.9]), [], {}, new Rng(0))).toBe(1);
    expect(sampleToken(logits([1, 3, 2.9]), [1], { repetitionPenalty: 1.2 }, new Rng(0))).toBe(2);
    expect(argmax(logits([-5, -1, -3]))).toBe(1);
  });

  it('top-k keeps the k largest (and ties with the k-th)', () => {
    expect(candidateDistribution(logits([1, 5, 3, 4, 0]), { topK: 2 }).ids).toEqual([1, 3]);
    expect(candidateDistribution(logits([1, 5, 4, 4, 0]), { topK: 2 }).ids).toEqual([1, 2, 3]);
  });

  it('top-p keeps the smallest most-likely set reaching p, renormalised', () => {
    // probabilities 0.5, 0.3, 0.2 (log-space logits)
    const l = logits([Math.log(0.2), Math.log(0.5), Math.log(0.3)]);
    const d = candidateDistribution(l, { topP: 0.75 });
    expect(d.ids).toEqual([1, 2]);
    expect(d.probs[0]).toBeCloseTo(0.5 / 0.8, 6);
    expect(candidateDistribution(l, { topP: 0.5 }).ids).toEqual([1]);
    expect(candidateDistribution(l, { topP: 1 }).ids).toEqual([1, 2, 0]);
  });

  it('temperature sharpens or flattens the distribution', () => {
    const l = logits([0, 1]);
    const p = (t: number) => candidateDistribution(l, { temperature: t }).probs[0];
    expect(p(1)).toBeCloseTo(Math.E / (1 + Math.E), 6);
    expect(p(0.5)).toBeGreaterThan(p(1));
    expect(p(2)).toBeLessThan(p(1));
  });

  it('samples with the frequencies of the distribution', () => {
    const l = logits([Math.log(0.6), Math.log(0.3), Math.log(0.1)]);
    const rng = new Rng(7);
    const counts = [0, 0, 0];
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[sampleToken(Float32Array.from(l), [], { temperature: 1 }, rng)]++;
    [0.6, 0.3, 0.1].forEach((p, i) => expect(Math.abs(counts[i] / n - p)).toBeLessThan(0.015));
  });
});
