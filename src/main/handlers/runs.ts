import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { exportRunConfig } from '../services/export-config';
import { runsService } from '../services/runs';

export const runsHandlers = (engine: Engine) => {
  const runs = () => runsService(engine);
  return {
    'runs.list': ({ status }) => runs().list(status),
    'runs.get': ({ id }) => runs().get(id),
    'runs.metrics': ({ id, names, sinceStep }) => runs().metricsOf(id, names, sinceStep),
    'runs.estimate': ({ config }) => runs().estimate(config),
    'runs.create': ({ config }) => runs().create(config),
    'runs.cancel': ({ id }) => runs().cancel(id),
    'runs.pause': ({ id }) => runs().pause(id),
    'runs.resume': ({ id, step }) => runs().resume(id, step),
    'runs.exportConfig': ({ id, to, out }) => exportRunConfig(engine, id, to, out),
  } satisfies HandlerGroup<
    'runs.list' | 'runs.get' | 'runs.metrics' | 'runs.estimate' | 'runs.create' | 'runs.cancel' | 'runs.pause' | 'runs.resume' | 'runs.exportConfig'
  >;
};
