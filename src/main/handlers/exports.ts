import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { exportsService } from '../export/service';

export const exportsHandlers = (engine: Engine) =>
  ({
    'exports.start': (args) => exportsService(engine).start(args),
    'exports.cancel': ({ id }) => exportsService(engine).cancel(id),
    'exports.get': ({ id }) => exportsService(engine).get(id),
    'exports.list': ({ adapterId }) => exportsService(engine).list(adapterId),
  }) satisfies HandlerGroup<'exports.start' | 'exports.cancel' | 'exports.get' | 'exports.list'>;
