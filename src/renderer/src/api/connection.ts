/** The link between the page and the engine, as the connection indicator shows it. */
import type { Unsubscribe } from '../../../shared/contract';

/**
 * - `connected`: calls and live events flow.
 * - `connecting`: first attempt, nothing received yet.
 * - `reconnecting`: the event stream dropped (server restarted, laptop slept); retrying with backoff.
 * - `unauthorized`: the server refuses this browser (no session cookie): open the printed URL again.
 */
export type ConnectionState = 'connected' | 'connecting' | 'reconnecting' | 'unauthorized';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Why the link is down, when it is. */
  detail?: string;
  /** When the next reconnect attempt happens (ms since epoch), while reconnecting. */
  retryAt?: number;
}

export class ConnectionSignal {
  private current: ConnectionStatus;
  private listeners = new Set<(s: ConnectionStatus) => void>();

  constructor(initial: ConnectionStatus) {
    this.current = initial;
  }

  get(): ConnectionStatus {
    return this.current;
  }

  set(next: ConnectionStatus): void {
    this.current = next;
    for (const l of this.listeners) l(next);
  }

  subscribe(listener: (s: ConnectionStatus) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}
