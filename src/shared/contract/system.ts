/** System calls: engine status, backends, settings. */
import { z } from 'zod';
import { call, event } from './define';

export type ShellKind = 'desktop' | 'web' | 'cli';

export interface BackendInfo {
  /** tfjs backend name, e.g. 'tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'. */
  name: string;
  label: string;
  available: boolean;
  /** Why it is not available (exact error or missing package), when it is not. */
  reason?: string;
}

export interface SystemStatus {
  version: string;
  shell: ShellKind;
  node: string;
  platform: string;
  electron: { available: boolean; version?: string; reason?: string };
  dataDir: string;
  db: { path: string; version: number; latest: number };
  backends: BackendInfo[];
  /** The backend the engine computes on, chosen from the ladder or forced in settings. */
  backend: { name: string; forced: boolean; skipped: { name: string; reason: string }[] };
  memory: { totalBytes: number; freeBytes: number };
  cpus: number;
}

export interface Settings {
  theme: 'system' | 'light' | 'dark';
  /** Forced backend name, or null for the fastest available. */
  backend: string | null;
}

export const SettingsPatch = z
  .object({
    theme: z.enum(['system', 'light', 'dark']).optional(),
    backend: z.string().min(1).nullable().optional(),
  })
  .strict();

export const systemCalls = {
  'system.status': call<SystemStatus>()(z.object({}).strict()),
  'settings.get': call<Settings>()(z.object({}).strict()),
  'settings.update': call<Settings>()(SettingsPatch),
};

export const systemEvents = {
  'settings.changed': event<Settings>(),
};
