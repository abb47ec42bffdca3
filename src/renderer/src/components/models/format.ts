/** Model sizes and counts as people read them, with their unit. */

const countFormat = new Intl.NumberFormat('en-US');

/** 32000 → "32,000". */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? countFormat.format(n) : '—';
}

/** 1032272 → "1.03 M", 134515008 → "135 M", 1235814400 → "1.24 B". */
export function formatParams(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const steps: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of steps) {
    if (n >= size) {
      const v = n / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${suffix}`;
    }
  }
  return String(n);
}

/** The last part of a folder path, for labels ("/a/b/adapter-r8/" → "adapter-r8"). */
export function folderName(p: string): string {
  const parts = p.split(/[\\/]+/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}
