import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { datasetsService } from '../services/datasets';

export const datasetsHandlers = (engine: Engine, datasets = datasetsService(engine)) =>
  ({
    'datasets.inspect': (args) => datasets.inspect(args),
    'datasets.import': (args) => datasets.import(args),
    'datasets.cancelImport': ({ importId }) => datasets.cancelImport(importId),
    'datasets.list': () => datasets.list(),
    'datasets.get': ({ id }) => datasets.get(id),
    'datasets.preview': (args) => datasets.preview(args),
    'datasets.stats': (args) => datasets.stats(args),
    'datasets.split': ({ id, version, evalFraction, seed }) => datasets.split(id, version, evalFraction, seed),
    'datasets.rename': ({ id, name }) => datasets.rename(id, name),
    'datasets.delete': ({ id }) => datasets.delete(id),
  }) satisfies HandlerGroup<
    | 'datasets.inspect'
    | 'datasets.import'
    | 'datasets.cancelImport'
    | 'datasets.list'
    | 'datasets.get'
    | 'datasets.preview'
    | 'datasets.stats'
    | 'datasets.split'
    | 'datasets.rename'
    | 'datasets.delete'
  >;
