/**
 * Is Electron usable here? Looks at the optional `electron` package without importing it (the
 * engine never imports electron): the package installs a binary from GitHub in its install script,
 * which fails on machines without that access, and npm then skips the package.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export interface ElectronProbe {
  available: boolean;
  version?: string;
  binary?: string;
  reason?: string;
}

export function probeElectron(): ElectronProbe {
  if (process.versions.electron) return { available: true, version: process.versions.electron };
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve('electron/package.json');
  } catch {
    return { available: false, reason: 'the optional package "electron" is not installed (its binary download failed or was skipped during npm install)' };
  }
  const dir = path.dirname(pkgJson);
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const pathTxt = path.join(dir, 'path.txt');
  if (!fs.existsSync(pathTxt)) return { available: false, version, reason: `electron ${version} is installed but its binary is missing (${pathTxt} not found: the download did not complete)` };
  const binary = path.join(dir, 'dist', fs.readFileSync(pathTxt, 'utf8').trim());
  if (!fs.existsSync(binary)) return { available: false, version, reason: `electron binary not found at ${binary}` };
  return { available: true, version, binary };
}
