/** Open a URL in the system browser when there is a screen to show it on; never throws. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface OpenResult {
  opened: boolean;
  /** Why no browser was opened. */
  reason?: string;
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** The opener command for this platform, or why there is none. */
export function browserOpener(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { command: string; args: string[] } | { reason: string } {
  if (platform === 'darwin') return { command: 'open', args: [url] };
  // rundll32 hands the URL to the default browser without cmd.exe re-parsing it (`start` would).
  if (platform === 'win32') return { command: 'rundll32', args: ['url.dll,FileProtocolHandler', url] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return { reason: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' };
  if (!onPath('xdg-open', env)) return { reason: 'xdg-open is not installed' };
  return { command: 'xdg-open', args: [url] };
}

export function openInBrowser(url: string): Promise<OpenResult> {
  const opener = browserOpener(url);
  if ('reason' in opener) return Promise.resolve({ opened: false, reason: opener.reason });
  return new Promise((resolve) => {
    try {
      const child = spawn(opener.command, opener.args, { detached: true, stdio: 'ignore' });
      child.once('error', (err) => resolve({ opened: false, reason: `${opener.command} failed: ${err.message}` }));
      child.once('spawn', () => {
        child.unref();
        resolve({ opened: true });
      });
    } catch (err) {
      resolve({ opened: false, reason: `${opener.command} failed: ${(err as Error).message}` });
    }
  });
}
