#!/usr/bin/env node
/**
 * `npm run test:e2e`: builds what the end-to-end suites load, then runs them (vitest, config
 * vitest.e2e.config.ts). The web suites need out/renderer (`npm run build:web`, rebuilt when the
 * renderer's sources are newer); the Electron suite needs the full desktop build (`electron-vite
 * build`), made only where Electron is installed. Extra arguments go to vitest
 * (`npm run test:e2e -- test/e2e/web-shell.e2e.ts`); LORA_STUDIO_E2E_JSON=FILE adds a JSON report.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const log = (msg) => console.error(`[e2e] ${msg}`);

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
    if (entry !== 'node_modules') newest = Math.max(newest, newestMtime(path.join(p, entry)));
  }
  return newest;
}

/** Is `output` missing or older than any of `sources`? */
function stale(output, sources) {
  const out = path.join(root, output);
  if (!fs.existsSync(out)) return true;
  const built = fs.statSync(out).mtimeMs;
  return sources.some((s) => newestMtime(path.join(root, s)) > built);
}

function run(cmd, args) {
  log(`${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

/** Same test as src/main/electron-probe.ts: the package and its downloaded binary. */
function electronBinary() {
  try {
    const pkg = require.resolve('electron/package.json');
    const pathTxt = path.join(path.dirname(pkg), 'path.txt');
    if (!fs.existsSync(pathTxt)) return null;
    const binary = path.join(path.dirname(pkg), 'dist', fs.readFileSync(pathTxt, 'utf8').trim());
    return fs.existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}

const rendererSources = ['src/renderer', 'src/shared', 'vite.web.config.ts', 'electron.vite.config.ts'];
const viteBin = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
if (electronBinary()) {
  const desktopSources = [...rendererSources, 'src/main', 'src/preload'];
  if (stale('out/main/index.js', desktopSources) || stale('out/renderer/index.html', rendererSources)) {
    const electronVite = path.join(path.dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js');
    run(process.execPath, [electronVite, 'build']);
  }
} else if (stale('out/renderer/index.html', rendererSources)) {
  run(process.execPath, [viteBin, 'build', '--config', 'vite.web.config.ts']);
}

fs.mkdirSync(path.join(root, 'test-results'), { recursive: true });
const vitest = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
// scripts/test.mjs asks for a JSON report too, to add the counts to its closing line.
const report = process.env.LORA_STUDIO_E2E_JSON ? ['--reporter=verbose', '--reporter=json', `--outputFile.json=${process.env.LORA_STUDIO_E2E_JSON}`] : [];
const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'vitest.e2e.config.ts', ...report, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
