/**
 * Opening the engine as every shell does: the data dir and database, then the start-up tasks that
 * must run once per start (the bundled starter model on first start; runs left running by a crash
 * marked interrupted).
 */
import { Engine, type EngineOptions } from './engine';
import { ModelsService } from './services/models';

export type StartupTask = (engine: Engine) => void;

/** Start-up tasks of other domains register here (kept in one list so their order is visible). */
export const startupTasks: StartupTask[] = [(engine) => new ModelsService(engine).ensureStarterModel()];

export function openEngine(opts: EngineOptions): Engine {
  const engine = Engine.open(opts);
  for (const task of startupTasks) task(engine);
  return engine;
}
