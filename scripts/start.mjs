#!/usr/bin/env node
/**
 * `npm start`: the desktop window when Electron is installed and there is a display, else the web
 * shell (builds the UI first when it is missing or older than its sources, then `lora-studio serve
 * --open`). Extra arguments (`npm start -- --port 8080 --data-dir DIR`) go to the shell started;
 * `--web` forces the web shell.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Same checks as src/main/electron-probe.ts (this script runs in plain Node, without tsx). */
function electronProblem() {
  let pkgJson;
  try {
    pkgJson = require.resolve('electron/package.json');
  } catch {
    return 'the optional package "electron" is not installed (its binary download failed or was skipped during npm install)';
  }
  const pathTxt = path.join(path.dirname(pkgJson), 'path.txt');
  if (!fs.existsSync(pathTxt)) return `electron is installed but its binary is missing (${pathTxt} not found)`;
  const binary = path.join(path.dirname(pkgJson), 'dist', fs.readFileSync(pathTxt, 'utf8').trim());
  if (!fs.existsSync(binary)) return `the electron binary is missing (${binary})`;
  return null;
}

function displayProblem() {
  if (process.platform === 'darwin' || process.platform === 'win32') return null;
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return null;
  return 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
}

/** Newest modification time of the files under `p` (a file or a folder), 0 when absent. */
function newestMtime(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of fs.readdirSync(p)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(path.join(p, entry)));
  }
  return newest;
}

/** Why the UI needs building, or null when out/renderer is up to date. */
function uiBuildReason() {
  const index = path.join(root, 'out', 'renderer', 'index.html');
  if (!fs.existsSync(index)) return 'the UI is not built yet';
  const built = fs.statSync(index).mtimeMs;
  const sources = ['src/renderer', 'src/shared', 'vite.web.config.ts'].map((p) => path.join(root, p));
  return sources.some((s) => newestMtime(s) > built) ? 'the UI sources changed since the last build' : null;
}

/** Run a child with this terminal; forwards termination signals; resolves with its exit code. */
function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', ...options });
    const forward = (signal) => child.kill(signal);
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, forward);
    child.on('error', (err) => {
      console.error(`lora-studio: cannot run ${command}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(code ?? (signal ? 0 : 1));
    });
  });
}

/** `npm run <script>` with the npm that started us when there is one. */
function runNpm(args) {
  const npmCli = process.env.npm_execpath;
  if (npmCli && /\.c?js$/.test(npmCli)) return run(process.execPath, [npmCli, ...args]);
  return run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { shell: process.platform === 'win32' });
}

async function main() {
  const argv = process.argv.slice(2);
  const forceWeb = argv.includes('--web');
  const args = argv.filter((a) => a !== '--web');

  const whyNotDesktop = forceWeb
    ? '--web was given'
    : (electronProblem() ?? displayProblem() ?? (fs.existsSync(path.join(root, 'electron.vite.config.ts')) ? null : 'electron.vite.config.ts is missing'));
  if (whyNotDesktop === null) {
    const electronVite = path.join(path.dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js');
    // `preview` builds main, preload and renderer, then opens the window; args after `--` reach the app.
    return run(process.execPath, [electronVite, 'preview', ...(args.length ? ['--', ...args] : [])]);
  }
  console.error(`LoRA Studio: starting the web shell because ${whyNotDesktop}.`);

  const buildReason = uiBuildReason();
  if (buildReason) {
    console.error(`LoRA Studio: building the UI (${buildReason}): npm run build:web`);
    const code = await runNpm(['run', 'build:web']);
    if (code !== 0) {
      if (!fs.existsSync(path.join(root, 'out', 'renderer', 'index.html'))) {
        console.error(`LoRA Studio: the UI build failed (exit ${code}); fix the error above and run npm start again.`);
        return code;
      }
      console.error(`LoRA Studio: the UI build failed (exit ${code}); serving the previous build.`);
    }
  }
  return run(process.execPath, [path.join(root, 'bin', 'lora-studio.js'), 'serve', '--open', ...args]);
}

process.exitCode = await main();
