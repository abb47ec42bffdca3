/**
 * Finding models already in the Hugging Face cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `~/.cache/huggingface/hub`. Layout: `models--ORG--NAME/snapshots/<commit>/…`, the files there are
 * often symlinks into `blobs/`; `refs/main` names the current snapshot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CachedModel {
  repoId: string;
  snapshot: string;
  path: string;
}

export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

function pickSnapshot(repoDir: string): string | undefined {
  const snapshots = path.join(repoDir, 'snapshots');
  const refMain = path.join(repoDir, 'refs', 'main');
  if (fs.existsSync(refMain)) {
    const commit = fs.readFileSync(refMain, 'utf8').trim();
    if (fs.existsSync(path.join(snapshots, commit))) return commit;
  }
  if (!fs.existsSync(snapshots)) return undefined;
  const entries = fs
    .readdirSync(snapshots, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ name: e.name, mtime: fs.statSync(path.join(snapshots, e.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return entries[0]?.name;
}

/** Model snapshots that have a config.json and safetensors weights (we cannot read .bin pickles). */
export function scanHfCache(dir = hfHubCacheDir()): CachedModel[] {
  if (!fs.existsSync(dir)) return [];
  const found: CachedModel[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith('models--')) continue;
    const repoDir = path.join(dir, entry.name);
    const snapshot = pickSnapshot(repoDir);
    if (!snapshot) continue;
    const snapDir = path.join(repoDir, 'snapshots', snapshot);
    const files = fs.readdirSync(snapDir);
    if (!files.includes('config.json')) continue;
    if (!files.some((f) => f === 'model.safetensors' || f === 'model.safetensors.index.json')) continue;
    found.push({ repoId: entry.name.slice('models--'.length).split('--').join('/'), snapshot, path: snapDir });
  }
  return found.sort((a, b) => a.repoId.localeCompare(b.repoId));
}
