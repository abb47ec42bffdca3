/**
 * The active Ops implementation. Models call `ops()` on every forward, so `setOps(native)` takes
 * effect for the next step without rebuilding a model. Default: the pure-tfjs composite.
 */
import { compositeOps } from './composite';
import type { Ops } from './types';

let current: Ops = compositeOps;

export function ops(): Ops {
  return current;
}

/** Replaces the active implementation; returns the previous one (to restore it in tests). */
export function setOps(next: Ops): Ops {
  const prev = current;
  current = next;
  return prev;
}

export { compositeOps };
export type { Ops };
export { additiveAttentionMask, positionIdsFor } from './mask';
