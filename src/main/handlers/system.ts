import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { getSettings, systemStatus, updateSettings } from '../services/system';

export const systemHandlers = (engine: Engine) =>
  ({
    'system.status': () => systemStatus(engine),
    'settings.get': () => getSettings(engine),
    'settings.update': (args) => updateSettings(engine, args),
  }) satisfies HandlerGroup<'system.status' | 'settings.get' | 'settings.update'>;
