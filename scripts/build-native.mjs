#!/usr/bin/env node
/**
 * Builds the optional native CPU addon (native/ → native/build/Release/lora_native.node) with
 * node-gyp, where a C++ compiler and a BLAS exist (OpenBLAS on Linux: apt-get install g++
 * libopenblas-dev; Accelerate on macOS). Anywhere else it prints why it skipped and exits 0, so
 * an install never fails because of it; the app then runs on the other tfjs backends.
 *
 *   node scripts/build-native.mjs            build, or skip with a reason (exit 0)
 *   node scripts/build-native.mjs --strict   exit 1 when the addon cannot be built (CI)
 *
 * LORA_STUDIO_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const output = path.join(nativeDir, 'build', 'Release', 'lora_native.node');
const strict = process.argv.includes('--strict');
const require = createRequire(import.meta.url);

function skip(reason) {
  console.log(`[native] skipped: ${reason}`);
  console.log('[native] LoRA Studio still works; training runs on the slower tfjs backends.');
  process.exit(strict ? 1 : 0);
}

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts });
}

if (process.env.LORA_STUDIO_SKIP_NATIVE === '1') skip('LORA_STUDIO_SKIP_NATIVE=1');
if (process.platform !== 'linux' && process.platform !== 'darwin') skip(`no BLAS set up for ${process.platform} (Linux with OpenBLAS and macOS with Accelerate are supported)`);

const cxx = process.env.CXX || 'c++';
if (run(cxx, ['--version']).status !== 0) {
  skip(`no C++ compiler ('${cxx} --version' failed); install one (Debian/Ubuntu: apt-get install g++; macOS: xcode-select --install)`);
}

// Compile and link a one-line sgemm call: proves the header and the library are both there.
if (process.platform === 'linux') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-native-'));
  try {
    const src = path.join(dir, 'probe.cc');
    fs.writeFileSync(src, '#include <cblas.h>\nint main() { float a = 1, b = 1, c = 0; cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1); return c == 1 ? 0 : 1; }\n');
    const probe = run(cxx, [src, '-o', path.join(dir, 'probe'), '-lopenblas']);
    if (probe.status !== 0) {
      skip(`OpenBLAS not found (a test program with <cblas.h> and -lopenblas did not build; install libopenblas-dev):\n${(probe.stderr || '').trim().split('\n').slice(-3).join('\n')}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  require.resolve('node-addon-api');
} catch {
  skip("the npm package 'node-addon-api' is not installed (run npm install first)");
}

/** node-gyp: the project's copy, else the one bundled with the npm that runs us, else next to node. */
function findNodeGyp() {
  const candidates = [];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency here
  }
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) skip('node-gyp not found (neither in node_modules nor bundled with npm)');

// Build against the headers installed with this node when they are there, so nothing is
// downloaded (node-gyp would otherwise fetch them from nodejs.org).
const args = [nodeGyp, 'rebuild', '--jobs', 'max'];
if (!process.env.npm_config_nodedir) {
  const prefix = path.dirname(path.dirname(process.execPath));
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}

console.log(`[native] building native/ with ${cxx} and ${process.platform === 'darwin' ? 'Accelerate' : 'OpenBLAS'}...`);
const build = run(process.execPath, args, { cwd: nativeDir });
if (build.status !== 0 || !fs.existsSync(output)) {
  const log = `${build.stdout ?? ''}\n${build.stderr ?? ''}`.trim().split('\n');
  console.log(log.slice(-25).join('\n'));
  skip(`node-gyp failed (exit ${build.status}); the log's last lines are above`);
}

// Load it in a fresh process: a build that links but cannot load (missing .so) is not a success.
const check = run(process.execPath, ['-e', `const a = require(${JSON.stringify(output)}); console.log(JSON.stringify(a.info()))`]);
if (check.status !== 0) skip(`the addon built but does not load: ${(check.stderr || '').trim().split('\n').slice(0, 3).join(' ')}`);
const info = JSON.parse(check.stdout);
console.log(`[native] built ${path.relative(root, output)}: ${info.threads} threads, ${info.blas}`);
