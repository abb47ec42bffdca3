/**
 * Dataset import throughput: a generated JSON Lines file (OpenAI chat rows of varied length,
 * some non-Latin text) is imported into a file database (WAL, as the app runs it) with the
 * real importer: hash, parse, normalise, batched inserts, split. Reports MB/s, rows/s and the
 * peak resident memory sampled during the import. Goal: ≥ 50 MB/s, peak RSS < 500 MB.
 *
 * Run alone:  npx tsx bench/datasets.ts [--mb 200] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { importDataset } from '../src/main/datasets/importer';
import { openDatabase } from '../src/main/storage/db';
import { createDatasetsRepo } from '../src/main/storage/repos/datasets';

export interface BenchDatasetsResult {
  fileMB: number;
  rows: number;
  seconds: number;
  /** CPU time of the import (user + system): what the importer itself costs on a busy machine. */
  cpuSeconds: number;
  mbPerSecond: number;
  mbPerCpuSecond: number;
  rowsPerSecond: number;
  peakRssMB: number;
  /** RSS before the import started (the Node process, SQLite, the libraries). */
  baseRssMB: number;
  goalMet: boolean;
}

const WORDS = ['the', 'model', 'learns', 'from', 'examples', 'données', 'модель', '数据', 'quickly', 'and', 'well', 'tokens', 'adapter', 'rank'];

/** Write about `mb` MiB of chat rows to `file`, streaming (the generator holds one block at a time). */
export function writeChatJsonl(file: string, mb: number): number {
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  let rows = 0;
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  try {
    while (bytes < mb * 2 ** 20) {
      const block: string[] = [];
      for (let i = 0; i < 2000; i++, rows++) {
        const messages = [
          { role: 'system', content: 'You are a helpful assistant.' },
          { role: 'user', content: `Question ${rows}: ${sentence(10 + Math.floor(rand() * 60))}?` },
          { role: 'assistant', content: sentence(20 + Math.floor(rand() * 150)) + '.' },
        ];
        block.push(JSON.stringify({ messages }));
      }
      const buf = Buffer.from(block.join('\n') + '\n');
      fs.writeSync(fd, buf);
      bytes += buf.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return rows;
}

export async function benchDatasets(opts: { mb?: number; log?: (line: string) => void } = {}): Promise<BenchDatasetsResult> {
  const mb = opts.mb ?? 200;
  const log = opts.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-bench-datasets-'));
  try {
    const file = path.join(dir, 'chat.jsonl');
    log(`writing ${mb} MiB of JSON Lines to ${file} ...`);
    writeChatJsonl(file, mb);
    const size = fs.statSync(file).size;
    const { db } = openDatabase(path.join(dir, 'bench.db'));
    const repo = createDatasetsRepo(db);
    global.gc?.();
    const baseRss = process.memoryUsage().rss;
    let peakRss = baseRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 25);
    log('importing ...');
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await importDataset(repo, { path: file, onError: 'skip', evalFraction: 0.05, seed: 0, onDuplicate: 'new-dataset' });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    db.close();
    const fileMB = size / 2 ** 20;
    const result: BenchDatasetsResult = {
      fileMB,
      rows: r.rows,
      seconds,
      cpuSeconds,
      mbPerSecond: fileMB / seconds,
      mbPerCpuSecond: fileMB / cpuSeconds,
      rowsPerSecond: r.rows / seconds,
      peakRssMB: peakRss / 2 ** 20,
      baseRssMB: baseRss / 2 ** 20,
      goalMet: fileMB / seconds >= 50 && peakRss / 2 ** 20 < 500,
    };
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatResult(r: BenchDatasetsResult): string {
  return [
    '| file | rows | wall | MB/s | rows/s | CPU time | MB per CPU-s | peak RSS (base) | goal ≥ 50 MB/s, < 500 MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    `| ${r.fileMB.toFixed(0)} MiB | ${r.rows} | ${r.seconds.toFixed(2)} s | ${r.mbPerSecond.toFixed(1)} | ${Math.round(r.rowsPerSecond)} | ${r.cpuSeconds.toFixed(2)} s | ${r.mbPerCpuSecond.toFixed(1)} | ${r.peakRssMB.toFixed(0)} MB (${r.baseRssMB.toFixed(0)}) | ${r.goalMet ? 'met' : 'NOT met'} |`,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--mb');
  const r = await benchDatasets({ mb: i >= 0 ? Number(argv[i + 1]) : undefined, log: (l) => console.error(l) });
  console.log(argv.includes('--json') ? JSON.stringify(r) : formatResult(r));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
