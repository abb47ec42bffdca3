import type { Engine } from '../engine';
import type { HandlerGroup } from './types';
import { AdapterLibrary } from '../adapters/library';

export const adaptersHandlers = (engine: Engine, library = new AdapterLibrary(engine)) =>
  ({
    'adapters.list': (args) => library.list(args),
    'adapters.get': ({ id }) => library.get(id),
    'adapters.check': ({ dir, model }) => library.check(dir, model),
    'adapters.import': ({ dir, model, name }) => library.import(dir, model, name),
    'adapters.rename': ({ id, name }) => library.rename(id, name),
    'adapters.setTags': ({ id, tags }) => library.setTags(id, tags),
    'adapters.setNotes': ({ id, notes }) => library.setNotes(id, notes),
    'adapters.delete': ({ id }) => library.delete(id),
    'adapters.reveal': ({ id }) => library.reveal(id),
    'adapters.svd': ({ id }) => library.svd(id),
    'adapters.resize': ({ id, rank, name }) => library.resize(id, rank, name),
    'adapters.combine': ({ items, rank, name }) => library.combine(items, rank, name),
  }) satisfies HandlerGroup<
    | 'adapters.list'
    | 'adapters.get'
    | 'adapters.check'
    | 'adapters.import'
    | 'adapters.rename'
    | 'adapters.setTags'
    | 'adapters.setNotes'
    | 'adapters.delete'
    | 'adapters.reveal'
    | 'adapters.svd'
    | 'adapters.resize'
    | 'adapters.combine'
  >;
