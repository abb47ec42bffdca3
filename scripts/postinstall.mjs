// After `npm install` / `npm ci`: build the optional native pieces. Nothing here may fail the install:
// each step prints why it was skipped and the app falls back (slower backend, web shell).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const log = (msg) => console.log(`[lora-studio postinstall] ${msg}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  return r.status === 0;
}

// 1. The fast CPU path (N-API addon over a system BLAS).
const buildNative = path.join(root, 'scripts', 'build-native.mjs');
if (process.env.LORA_STUDIO_SKIP_NATIVE) log('native addon: skipped (LORA_STUDIO_SKIP_NATIVE is set)');
else if (fs.existsSync(buildNative)) {
  if (!run(process.execPath, [buildNative])) log('native addon: build failed; the engine will use the wasm/cpu backends (see `lora-studio doctor`)');
}

// 2. better-sqlite3 for Electron, where Electron is installed. Plain Node keeps its own build in
// node_modules; the Electron build goes to native/electron/ and the desktop shell loads it through
// better-sqlite3's `nativeBinding` option, so both runtimes work from one install.
function electronVersion() {
  try {
    const pkg = require.resolve('electron/package.json');
    if (!fs.existsSync(path.join(path.dirname(pkg), 'path.txt'))) return null;
    return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
  } catch {
    return null;
  }
}

const ev = electronVersion();
if (!ev) log('electron: not installed (optional); better-sqlite3 stays built for Node only');
else {
  try {
    const src = path.dirname(require.resolve('better-sqlite3/package.json'));
    const work = fs.mkdtempSync(path.join(root, 'node_modules', '.bsq-electron-'));
    fs.cpSync(src, work, { recursive: true, filter: (p) => !p.includes(`${path.sep}build${path.sep}`) });
    const prebuild = require.resolve('prebuild-install/bin.js');
    let ok = run(process.execPath, [prebuild, '--runtime', 'electron', '--target', ev], { cwd: work });
    if (!ok) ok = run('npx', ['--yes', 'node-gyp', 'rebuild', '--release', `--target=${ev}`, '--dist-url=https://electronjs.org/headers'], { cwd: work });
    const built = path.join(work, 'build', 'Release', 'better_sqlite3.node');
    if (ok && fs.existsSync(built)) {
      fs.mkdirSync(path.join(root, 'native', 'electron'), { recursive: true });
      fs.copyFileSync(built, path.join(root, 'native', 'electron', 'better_sqlite3.node'));
      log(`better-sqlite3 built for Electron ${ev}`);
    } else log(`better-sqlite3 for Electron ${ev}: build failed; the desktop shell cannot open the database (the web shell works)`);
    fs.rmSync(work, { recursive: true, force: true });
  } catch (err) {
    log(`better-sqlite3 for Electron: skipped (${err.message})`);
  }
}
