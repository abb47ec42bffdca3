/**
 * The engine's side of the contract: one handler per call, grouped by domain, and the one
 * dispatch function every transport goes through (name check, argument validation, call).
 */
import { calls, isCallName, type CallName } from '../../shared/contract';
import type { Engine } from '../engine';
import { UserError } from '../errors';
import type { CallContext, Handlers } from './types';
import { systemHandlers } from './system';
import { adaptersHandlers } from './adapters';
import { exportsHandlers } from './exports';
import { datasetsHandlers } from './datasets';
import { dialogHandlers } from './dialog';
import { modelsHandlers } from './models';
import { generateHandlers } from './generate';
import { runsLibraryHandlers } from './runs-library';
import { runsHandlers } from './runs';

export type { CallContext, Handlers } from './types';

export function createHandlers(engine: Engine): Handlers {
  return {
    ...systemHandlers(engine),
    ...adaptersHandlers(engine),
    ...exportsHandlers(engine),
    ...datasetsHandlers(engine),
    ...dialogHandlers(),
    ...modelsHandlers(engine),
    ...generateHandlers(engine),
    ...runsLibraryHandlers(engine),
    ...runsHandlers(engine),
  };
}

export class CallValidationError extends UserError {
  constructor(
    readonly call: string,
    message: string,
  ) {
    super(`invalid arguments for ${call}: ${message}`, 400);
    this.name = 'CallValidationError';
  }
}

export class UnknownCallError extends UserError {
  constructor(readonly call: string) {
    super(`unknown call "${call}"`, 400);
    this.name = 'UnknownCallError';
  }
}

/** Validate `rawArgs` against the contract's schema for `name` and run its handler. */
export async function dispatchCall(handlers: Handlers, name: string, rawArgs: unknown, ctx: CallContext): Promise<unknown> {
  if (!isCallName(name)) throw new UnknownCallError(name);
  const parsed = calls[name].args.safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(arguments)'}: ${i.message}`).join('; ');
    throw new CallValidationError(name, msg);
  }
  const handler = handlers[name] as (args: unknown, ctx: CallContext) => unknown;
  return await handler(parsed.data, ctx);
}

export type { CallName };
