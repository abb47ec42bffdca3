import type { Settings } from '../../shared/contract';

export type ThemeChoice = Settings['theme'];

/** The theme the page shows for a choice, given whether the OS is in dark mode. */
export function resolveTheme(choice: ThemeChoice, systemDark: boolean): 'light' | 'dark' {
  if (choice === 'system') return systemDark ? 'dark' : 'light';
  return choice;
}
