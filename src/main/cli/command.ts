import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliContext } from './context';
import { CliError } from './context';

export interface Command {
  name: string;
  summary: string;
  /** Usage lines shown by `lora-studio help <command>` and on a usage error. */
  usage: string[];
  run(ctx: CliContext, argv: string[]): Promise<void> | void;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with errors turned into one clear CLI line. */
export function parse<O extends Options>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), 2);
  }
}

export function intOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new CliError(`--${name} must be an integer, got "${value}"`, 2);
  return n;
}

export function numberOption(value: string | undefined, name: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got "${value}"`, 2);
  return n;
}

/** Split `models add PATH` style: the first positional picks the subcommand. */
export function subcommand(argv: string[], known: string[], command: string): [string, string[]] {
  const [sub, ...rest] = argv;
  if (!sub || sub.startsWith('-')) throw new CliError(`${command}: missing subcommand (one of: ${known.join(', ')})`, 2);
  if (!known.includes(sub)) throw new CliError(`${command}: unknown subcommand "${sub}" (one of: ${known.join(', ')})`, 2);
  return [sub, rest];
}
