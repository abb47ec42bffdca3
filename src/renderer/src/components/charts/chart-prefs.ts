/** Smoothing and log scale, remembered in this browser across pages and reloads. */
import { ref, watch, type Ref } from 'vue';

const KEY = 'lora-studio.charts';

function read(): { smoothing: number; log: boolean } {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '{}') as { smoothing?: unknown; log?: unknown };
    const smoothing = typeof v.smoothing === 'number' && v.smoothing >= 0 && v.smoothing < 1 ? v.smoothing : 0.6;
    return { smoothing, log: v.log === true };
  } catch {
    return { smoothing: 0.6, log: false };
  }
}

let shared: { smoothing: Ref<number>; log: Ref<boolean> } | null = null;

export function useChartPrefs(): { smoothing: Ref<number>; log: Ref<boolean> } {
  if (shared) return shared;
  const initial = read();
  const smoothing = ref(initial.smoothing);
  const log = ref(initial.log);
  watch([smoothing, log], ([s, l]) => {
    try {
      localStorage.setItem(KEY, JSON.stringify({ smoothing: s, log: l }));
    } catch {
      // private mode or full storage: the choice lasts for this page only
    }
  });
  shared = { smoothing, log };
  return shared;
}
