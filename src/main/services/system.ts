/** Engine status (what `doctor` prints and the status panel shows) and user settings. */
import os from 'node:os';
import type { BackendInfo, Settings, SystemStatus } from '../../shared/contract';
import type { Engine } from '../engine';
import { appVersion } from '../engine';
import { probeElectron } from '../electron-probe';
import { UserError } from '../errors';

const DEFAULT_SETTINGS: Settings = { theme: 'system', backend: null };

export function getSettings(engine: Engine): Settings {
  return { ...DEFAULT_SETTINGS, ...engine.settings.get<Partial<Settings>>('app', {}) };
}

export async function updateSettings(engine: Engine, patch: Partial<Settings>): Promise<Settings> {
  if (patch.backend) {
    const backends = await listBackends();
    const b = backends.find((x) => x.name === patch.backend);
    if (!b) throw new UserError(`unknown backend "${patch.backend}"; known: ${backends.map((x) => x.name).join(', ')}`);
    if (!b.available) throw new UserError(`backend "${b.name}" is not available here: ${b.reason}`);
  }
  const next = { ...getSettings(engine), ...patch };
  engine.settings.set('app', next);
  engine.events.emit('settings.changed', next);
  return next;
}

/** Every backend of the ladder, fastest first, with why it cannot be used where it cannot. */
export async function listBackends(): Promise<BackendInfo[]> {
  const { probeBackends } = await import('../ml/backends');
  return probeBackends();
}

/** The backend a run would use: the forced one, else the first available on the ladder. */
export function chooseBackend(backends: BackendInfo[], forced: string | null): SystemStatus['backend'] {
  const skipped: { name: string; reason: string }[] = [];
  if (forced) {
    const f = backends.find((b) => b.name === forced && b.available);
    if (f) return { name: f.name, forced: true, skipped: [] };
    skipped.push({ name: forced, reason: `forced in settings but ${backends.find((b) => b.name === forced)?.reason ?? 'unknown'}` });
  }
  for (const b of backends) {
    if (b.available) return { name: b.name, forced: false, skipped };
    skipped.push({ name: b.name, reason: b.reason ?? 'unavailable' });
  }
  return { name: 'none', forced: false, skipped };
}

export async function systemStatus(engine: Engine): Promise<SystemStatus> {
  const backends = await listBackends();
  const electron = probeElectron();
  return {
    version: appVersion(),
    shell: engine.shell,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    electron: { available: electron.available, version: electron.version, reason: electron.reason },
    dataDir: engine.dataDir,
    db: { path: engine.paths.db, version: engine.dbVersion, latest: engine.dbLatest },
    backends,
    backend: chooseBackend(backends, getSettings(engine).backend),
    memory: engine.memory(),
    cpus: os.cpus().length,
  };
}
