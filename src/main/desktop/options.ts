/** The desktop shell's start options, read from its command line and environment. */
import path from 'node:path';

/**
 * `--data-dir DIR` or `--data-dir=DIR` on the command line, else LORA_STUDIO_DATA_DIR, else the
 * folder Electron gives the app for its data (userData).
 */
export function desktopDataDir(argv: readonly string[], env: NodeJS.ProcessEnv, userData: string): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--data-dir') {
      const value = argv[i + 1];
      if (!value || value.startsWith('--')) throw new Error('--data-dir needs a folder path');
      return path.resolve(value);
    }
    if (arg.startsWith('--data-dir=')) {
      const value = arg.slice('--data-dir='.length);
      if (!value) throw new Error('--data-dir needs a folder path');
      return path.resolve(value);
    }
  }
  if (env.LORA_STUDIO_DATA_DIR) return path.resolve(env.LORA_STUDIO_DATA_DIR);
  return userData;
}
