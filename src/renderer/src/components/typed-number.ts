/**
 * A number field's text as typed, checked against its range (NumberField, SliderField). The text
 * is kept as the user left it ("0." while typing "0.5"); the model value changes only when the text
 * is a number in range, and the field shows why it is not (`problem`, e.g. "at least 1").
 */
import { computed, ref, watch, type ComputedRef, type Ref } from 'vue';

export interface NumberRule {
  min: number;
  max: number;
  /** The lower bound itself is not allowed (top-p > 0). */
  minExclusive?: boolean;
  integer?: boolean;
}

/** Why `raw` is not an allowed value, worded to follow "Must be …"; null when it is allowed. */
export function numberProblem(raw: string, rule: NumberRule): string | null {
  const text = raw.trim();
  if (text === '') return 'enter a number';
  const n = Number(text);
  if (!Number.isFinite(n)) return 'not a number';
  if (rule.integer && !Number.isInteger(n)) return 'a whole number';
  if (rule.minExclusive ? n <= rule.min : n < rule.min) return rule.minExclusive ? `more than ${rule.min}` : `at least ${rule.min}`;
  if (n > rule.max) return `at most ${rule.max}`;
  return null;
}

export interface TypedNumber {
  text: Ref<string>;
  problem: ComputedRef<string | null>;
  /** Takes what the user typed; passes it on (`accept`) when it is allowed. */
  type(raw: string): void;
}

/**
 * `value` is the model value (its changes from outside replace the text unless the text already
 * says the same number); `accept` receives every allowed value typed.
 */
export function useTypedNumber(value: () => number, rule: () => NumberRule, accept: (v: number) => void): TypedNumber {
  const text = ref(String(value()));
  watch(value, (v) => {
    if (Number(text.value) !== v) text.value = String(v);
  });
  const problem = computed(() => numberProblem(text.value, rule()));

  function type(raw: string): void {
    text.value = raw;
    if (problem.value === null) accept(Number(raw));
  }

  return { text, problem, type };
}
