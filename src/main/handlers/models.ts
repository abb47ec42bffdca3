import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { ModelsService, browseFolders } from '../services/models';

export const modelsHandlers = (engine: Engine, models = new ModelsService(engine)) =>
  ({
    'models.list': () => models.list(),
    'models.add': ({ path, name }) => models.add(path, name),
    'models.show': ({ id }) => models.show(id),
    'models.remove': ({ id }) => ({ removed: models.remove(id) }),
    'models.scan': () => models.scan(),
    'models.browse': ({ path }) => browseFolders(path),
  }) satisfies HandlerGroup<'models.list' | 'models.add' | 'models.show' | 'models.remove' | 'models.scan' | 'models.browse'>;
