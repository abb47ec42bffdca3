/** The engine's event bus: services emit contract events; shells forward them to the renderer. */
import type { EventName, EventPayload } from '../shared/contract';

export type AnyEventListener = (name: EventName, payload: unknown) => void;

export class EventBus {
  private listeners = new Set<AnyEventListener>();

  emit<K extends EventName>(name: K, payload: EventPayload<K>): void {
    for (const listener of this.listeners) {
      try {
        listener(name, payload);
      } catch (err) {
        // A broken subscriber (a closed socket, a destroyed window) must not stop the engine.
        console.error(`event listener failed on ${name}:`, err);
      }
    }
  }

  /** Subscribe to every event; returns the unsubscribe function. */
  onAny(listener: AnyEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  on<K extends EventName>(name: K, listener: (payload: EventPayload<K>) => void): () => void {
    return this.onAny((n, p) => {
      if (n === name) listener(p as EventPayload<K>);
    });
  }
}
