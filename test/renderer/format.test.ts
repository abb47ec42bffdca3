import { describe, expect, it } from 'vitest';
import { errorMessage, formatBytes, formatPercent } from '../../src/renderer/src/format';
import { resolveTheme } from '../../src/renderer/src/theme-choice';
import { connectionLabel } from '../../src/renderer/src/labels';

describe('formatting', () => {
  it('bytes in binary units with sensible precision', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(25.5 * 2 ** 20)).toBe('25.5 MiB');
    expect(formatBytes(23.47 * 2 ** 30)).toBe('23.5 GiB');
    expect(formatBytes(512 * 2 ** 30)).toBe('512 GiB');
    expect(formatBytes(-1)).toBe('—');
  });
  it('percentages with a unit', () => {
    expect(formatPercent(0.5)).toBe('50 %');
    expect(formatPercent(0.0123)).toBe('1.2 %');
    expect(formatPercent(Number.NaN)).toBe('—');
  });
});

describe('theme', () => {
  it('system follows the OS, explicit choices win', () => {
    expect(resolveTheme('system', true)).toBe('dark');
    expect(resolveTheme('system', false)).toBe('light');
    expect(resolveTheme('light', true)).toBe('light');
    expect(resolveTheme('dark', false)).toBe('dark');
  });
});

describe('connection label', () => {
  it('counts down to the next attempt', () => {
    expect(connectionLabel({ state: 'reconnecting', retryAt: 10_500 }, 7_000)).toBe('Reconnecting in 4 s');
    expect(connectionLabel({ state: 'reconnecting', retryAt: 10_000 }, 10_200)).toBe('Reconnecting…');
    expect(connectionLabel({ state: 'connected' }, 0)).toBe('Live updates on');
  });
});

describe('errorMessage', () => {
  it('takes an Error’s message, else the thrown value as text', () => {
    expect(errorMessage(new Error('no such folder'))).toBe('no such folder');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});
