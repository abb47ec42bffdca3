/**
 * Building blocks of the renderer ↔ engine contract.
 *
 * A call has a zod schema for its arguments (validated once, at the transport boundary) and a
 * result type (trusted: the engine produces it). An event has only a payload type.
 */
import type { z } from 'zod';

export interface CallSpec<A extends z.ZodType, R> {
  readonly args: A;
  /** Phantom field: carries the result type, never set at run time. */
  readonly result?: R;
}

/** `call<Result>()(argsSchema)` — the curried form lets TypeScript infer A while R is given. */
export const call =
  <R>() =>
  <A extends z.ZodType>(args: A): CallSpec<A, R> => ({ args });

export interface EventSpec<P> {
  readonly payload?: P;
}

export const event = <P>(): EventSpec<P> => ({});
