/**
 * The number fields' shared checking (src/renderer/src/components/typed-number.ts): the words
 * after "Must be …" for each kind of bad text, an exclusive lower bound, and that a typed value
 * reaches the model only when allowed while the text stays as typed.
 */
import { describe, expect, it } from 'vitest';
import { nextTick, ref } from 'vue';
import { numberProblem, useTypedNumber } from '../../src/renderer/src/components/typed-number';

describe('numberProblem', () => {
  const rank = { min: 1, max: 256, integer: true };
  it('says what is wrong, in the order a user fixes it', () => {
    expect(numberProblem('  ', rank)).toBe('enter a number');
    expect(numberProblem('abc', rank)).toBe('not a number');
    expect(numberProblem('Infinity', rank)).toBe('not a number');
    expect(numberProblem('2.5', rank)).toBe('a whole number');
    expect(numberProblem('0', rank)).toBe('at least 1');
    expect(numberProblem('257', rank)).toBe('at most 256');
    expect(numberProblem(' 16 ', rank)).toBeNull();
  });

  it('refuses the bound itself when the minimum is exclusive', () => {
    const topP = { min: 0, max: 1, minExclusive: true };
    expect(numberProblem('0', topP)).toBe('more than 0');
    expect(numberProblem('0.0001', topP)).toBeNull();
    expect(numberProblem('0', { min: 0, max: 1 })).toBeNull();
    expect(numberProblem('1e-9', { min: 0, max: 1, minExclusive: true })).toBeNull();
  });
});

describe('useTypedNumber', () => {
  it('passes on allowed values only, keeps the text as typed, and follows outside changes', async () => {
    const model = ref(8);
    const max = ref(64);
    const field = useTypedNumber(
      () => model.value,
      () => ({ min: 1, max: max.value, integer: true }),
      (v) => (model.value = v),
    );
    expect(field.text.value).toBe('8');

    field.type('300');
    expect(field.problem.value).toBe('at most 64');
    expect(model.value).toBe(8);
    expect(field.text.value).toBe('300');

    field.type('32');
    expect(model.value).toBe(32);
    expect(field.problem.value).toBeNull();

    // "32.0" is the same number: the text is left as the user wrote it.
    field.type('32.0');
    await nextTick();
    expect(field.text.value).toBe('32.0');

    model.value = 4;
    await nextTick();
    expect(field.text.value).toBe('4');

    max.value = 2;
    expect(field.problem.value).toBe('at most 2');
  });
});
