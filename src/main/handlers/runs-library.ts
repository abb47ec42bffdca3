import type { Engine } from '../engine';
import { RunsLibrary } from '../services/runs-library';
import type { HandlerGroup } from './types';

export const runsLibraryHandlers = (engine: Engine, library = new RunsLibrary(engine)) =>
  ({
    'runs.annotations': () => library.annotations(),
    'runs.setNotes': ({ id, notes }) => library.setNotes(id, notes),
    'runs.setTags': ({ id, tags }) => library.setTags(id, tags),
    'runs.delete': ({ id }) => library.delete(id),
    'presets.list': () => library.listPresets(),
    'presets.save': ({ name, config }) => library.savePreset(name, config),
    'presets.delete': ({ id }) => library.deletePreset(id),
  }) satisfies HandlerGroup<'runs.annotations' | 'runs.setNotes' | 'runs.setTags' | 'runs.delete' | 'presets.list' | 'presets.save' | 'presets.delete'>;
