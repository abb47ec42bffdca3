import type { CallName, CallResult, ParsedCallArgs } from '../../shared/contract';

export interface CallContext {
  /** Which shell the call came through. */
  via: 'ipc' | 'http' | 'cli';
}

export type Handler<K extends CallName> = (args: ParsedCallArgs<K>, ctx: CallContext) => Promise<CallResult<K>> | CallResult<K>;

export type HandlerGroup<K extends CallName> = { [P in K]: Handler<P> };

export type Handlers = HandlerGroup<CallName>;
