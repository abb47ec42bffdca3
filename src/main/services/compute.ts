/**
 * The backend the engine computes on in this process: the one forced in settings, else the fastest
 * available (src/main/ml/backends.ts). Selected once, again only when the setting changes.
 */
import type { Engine } from '../engine';
import { UserError, errorMessage } from '../errors';
import { selectBackend, type SelectedBackend } from '../ml/backends';
import { getSettings } from './system';

let current: { forced: string | null; selected: Promise<SelectedBackend> } | null = null;

export async function ensureBackendSelection(engine: Engine, override?: string | null): Promise<SelectedBackend> {
  const forced = override ?? getSettings(engine).backend;
  if (!current || current.forced !== forced) {
    const selected = selectBackend(forced);
    current = { forced, selected };
    selected.catch(() => {
      if (current?.selected === selected) current = null;
    });
  }
  try {
    return await current.selected;
  } catch (err) {
    throw new UserError(errorMessage(err));
  }
}

/** The backend's ladder name, e.g. 'native'. */
export async function ensureBackend(engine: Engine, override?: string | null): Promise<string> {
  return (await ensureBackendSelection(engine, override)).name;
}
