import type { EngineTransport } from '../../../shared/contract';
import type { ConnectionSignal } from './connection';

/** What the rest of the renderer sees of the engine, whichever shell it runs in. */
export interface Transport extends EngineTransport {
  readonly kind: 'desktop' | 'web';
  readonly connection: ConnectionSignal;
}
