/** Where the app's data and its own files live. Never imports electron: the desktop shell passes userData in. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_DIR_NAME = 'lora-studio';

/** --data-dir, else LORA_STUDIO_DATA_DIR, else the platform's per-user data folder. */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.LORA_STUDIO_DATA_DIR) return path.resolve(env.LORA_STUDIO_DATA_DIR);
  const home = os.homedir();
  switch (process.platform) {
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'LoRA Studio');
    case 'win32':
      return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'LoRA Studio');
    default:
      return path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), APP_DIR_NAME);
  }
}

let cachedRoot: string | undefined;

/**
 * The project root (the folder holding package.json and db/), found by walking up from this file,
 * so it works from src/ under tsx and from out/ in the Electron build alike.
 */
export function appRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'db', '0001__init.sql')) && fs.existsSync(path.join(dir, 'package.json'))) {
      cachedRoot = dir;
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('LoRA Studio: cannot find the app folder (db/0001__init.sql) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Sub-folders of the data dir, created on demand. */
export function dataPaths(dataDir: string) {
  return {
    root: dataDir,
    db: path.join(dataDir, 'lora-studio.db'),
    adapters: path.join(dataDir, 'adapters'),
    runs: path.join(dataDir, 'runs'),
    exports: path.join(dataDir, 'exports'),
    models: path.join(dataDir, 'models'),
    tmp: path.join(dataDir, 'tmp'),
  };
}
