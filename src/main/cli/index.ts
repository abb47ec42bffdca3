/**
 * `lora-studio [--data-dir DIR] <command> [--json]` — the CLI shell over the engine.
 * Errors: exit code ≠ 0 and one clear line (a JSON object with `error` under --json).
 */
import { commands } from './commands';
import { CliError, createContext } from './context';
import { errorMessage } from '../errors';

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: lora-studio [--data-dir DIR] <command> [options] [--json]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  --data-dir DIR  where the database and files live (also env LORA_STUDIO_DATA_DIR)',
    '  --json          machine-readable output',
    '',
    'Run `lora-studio help <command>` for a command\'s options.',
  ].join('\n');
}

/** Pull the global flags out wherever they stand. */
export function splitGlobalArgs(argv: string[]): { json: boolean; dataDir?: string; rest: string[] } {
  let json = false;
  let dataDir: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--data-dir') {
      dataDir = argv[++i];
      if (!dataDir) throw new CliError('--data-dir needs a folder', 2);
    } else if (a.startsWith('--data-dir=')) dataDir = a.slice('--data-dir='.length);
    else rest.push(a);
  }
  return { json, dataDir, rest };
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json');
  const ctx0 = { json };
  try {
    const g = splitGlobalArgs(argv);
    json = g.json;
    const [name, ...rest] = g.rest;
    if (!name || name === 'help' || name === '--help' || name === '-h') {
      const target = rest[0] && commands.find((c) => c.name === rest[0]);
      process.stdout.write((target ? target.usage.join('\n') + '\n\n' + target.summary : helpText()) + '\n');
      return 0;
    }
    if (name === '--version' || name === 'version') {
      const { appVersion } = await import('../engine');
      process.stdout.write(appVersion() + '\n');
      return 0;
    }
    const command = commands.find((c) => c.name === name);
    if (!command) throw new CliError(`unknown command "${name}"; commands: ${commands.map((c) => c.name).join(', ')}`, 2);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(command.usage.join('\n') + '\n');
      return 0;
    }
    const ctx = createContext(json, g.dataDir);
    try {
      await command.run(ctx, rest);
    } finally {
      await ctx.close();
    }
    return 0;
  } catch (err) {
    const code = err instanceof CliError ? err.exitCode : 1;
    const msg = errorMessage(err).split('\n')[0];
    if (json || ctx0.json) process.stdout.write(JSON.stringify({ error: msg }) + '\n');
    else process.stderr.write(`lora-studio: ${msg}\n`);
    if (process.env.LORA_STUDIO_DEBUG && err instanceof Error) process.stderr.write((err.stack ?? '') + '\n');
    return code;
  }
}
