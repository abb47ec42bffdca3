import type { Engine } from '../engine';
import { createHandlers, type Handlers } from '../handlers';

const cache = new WeakMap<Engine, Handlers>();

export function handlersFor(engine: Engine): Handlers {
  let h = cache.get(engine);
  if (!h) {
    h = createHandlers(engine);
    cache.set(engine, h);
  }
  return h;
}
