// `npm test`: type-check, lint, unit/integration suites (vitest), then the browser end-to-end suites.
// Ends with one plain line "N passed, N failed, N skipped" summing every suite.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2); // e.g. `npm test -- unit` runs just that stage
const want = (stage) => only.length === 0 || only.includes(stage);
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedStages = [];

function step(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) failedStages.push(name);
  return r.status === 0;
}

function addVitestCounts(file) {
  if (!fs.existsSync(file)) return;
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  totals.passed += r.numPassedTests ?? 0;
  totals.failed += r.numFailedTests ?? 0;
  // A suite that failed before any test ran (an import error) counts as one failure.
  for (const suite of r.testResults ?? []) {
    if (suite.status === 'failed' && !(suite.assertionResults ?? []).some((a) => a.status === 'failed')) totals.failed += 1;
  }
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-studio-test-'));
if (want('typecheck')) step('typecheck', 'npm', ['run', 'typecheck', '--silent']);
if (want('lint')) step('lint', 'npm', ['run', 'lint', '--silent']);
if (want('unit')) {
  const out = path.join(tmp, 'unit.json');
  step('unit', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`]);
  addVitestCounts(out);
}
if (want('e2e') && fs.existsSync(path.join(root, 'scripts', 'e2e.mjs'))) {
  const out = path.join(tmp, 'e2e.json');
  step('e2e', process.execPath, [path.join(root, 'scripts', 'e2e.mjs')], { LORA_STUDIO_E2E_JSON: out });
  addVitestCounts(out);
}
fs.rmSync(tmp, { recursive: true, force: true });

if (failedStages.length) console.log(`\nFailed stages: ${failedStages.join(', ')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedStages.length ? 1 : 0);
