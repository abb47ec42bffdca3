/**
 * Light / dark / system theme: the choice lives in the engine's settings; the page shows the
 * resolved theme as `<html data-theme="light|dark">`, which the CSS variables in styles/tokens.css
 * follow. The last choice is also kept in localStorage, only so the next start paints in the right
 * colours before the settings arrive.
 */
import { onBeforeUnmount, watch, type Ref } from 'vue';
import { resolveTheme, type ThemeChoice } from './theme-choice';

export type { ThemeChoice } from './theme-choice';

const CACHE_KEY = 'lora-studio.theme';
const darkQuery = () => window.matchMedia('(prefers-color-scheme: dark)');

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  root.dataset.themeChoice = choice;
  root.dataset.theme = resolveTheme(choice, darkQuery().matches);
}

function cachedChoice(): ThemeChoice {
  try {
    const v = window.localStorage.getItem(CACHE_KEY);
    if (v === 'light' || v === 'dark' || v === 'system') return v;
  } catch {
    // Storage can be disabled; the settings still arrive a moment later.
  }
  return 'system';
}

/** Before the app mounts: paint with the last known choice. */
export function applyCachedTheme(): void {
  applyTheme(cachedChoice());
}

/** Follows the settings' theme, and the OS while the choice is "system". */
export function useThemeSync(choice: Ref<ThemeChoice | undefined>): void {
  const query = darkQuery();
  const onSystemChange = () => {
    if (choice.value === 'system') applyTheme('system');
  };
  query.addEventListener('change', onSystemChange);
  onBeforeUnmount(() => query.removeEventListener('change', onSystemChange));
  watch(
    choice,
    (value) => {
      if (!value) return;
      applyTheme(value);
      try {
        window.localStorage.setItem(CACHE_KEY, value);
      } catch {
        // See cachedChoice.
      }
    },
    { immediate: true },
  );
}
