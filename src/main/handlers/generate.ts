import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { GenerationService } from '../services/generation';

export const generateHandlers = (engine: Engine, service = new GenerationService(engine)) =>
  ({
    'generate.start': (args) => service.start(args),
    'generate.cancel': ({ requestId }) => ({ cancelled: service.cancel(requestId) }),
  }) satisfies HandlerGroup<'generate.start' | 'generate.cancel'>;
