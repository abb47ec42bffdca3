/** Training numbers as people read them, with their unit. */
import type { RunStatus } from '../../../../shared/contract';

/** 95_000 → "1 min 35 s", 4_000_000 → "1 h 07 min", 800 → "0.8 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** A loss or similar: 4 significant digits, scientific when tiny. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** Learning rates: 0.0002 → "2e-4", 0.001 → "1e-3", 3.5e-5 → "3.5e-5". */
export function formatLr(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const [mant, exp] = v.toExponential(2).split('e');
  return `${Number(mant)}e${Number(exp)}`;
}

/** 1234.5 tokens/s → "1,235 tok/s". */
export function formatRate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3)} tok/s`;
}

/** "2026-11-28T22:35:06Z" → "28 Nov, 22:35" (this year) or "28 Nov 2025". */
export function formatDate(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const sameYear = d.getFullYear() === now.getFullYear();
  const day = d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
  return sameYear ? `${day}, ${d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}` : day;
}

export const STATUS_LABELS: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  paused: 'Paused',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

export const STATUS_TONES: Record<RunStatus, 'ok' | 'warn' | 'danger' | 'idle'> = {
  queued: 'idle',
  running: 'ok',
  paused: 'warn',
  completed: 'ok',
  failed: 'danger',
  cancelled: 'idle',
  interrupted: 'warn',
};

/** A run that still has a trainer or a queue slot. */
export function isActive(status: RunStatus): boolean {
  return status === 'queued' || status === 'running' || status === 'paused';
}
