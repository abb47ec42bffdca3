/**
 * Dataset import throughput: a generated JSON Lines file (OpenAI chat rows of varied length,
 * some non-Latin text) is imported into a file database (WAL, as the app runs it) with the
 * real importer: hash, parse, normalise, batched inserts, split. Reports MB/s, rows/s and the
 * peak resident memory sampled during the import. Goal: ≥ 50 MB/s, peak RSS < 500 MB.
 *
 * The import reads in a worker thread while this thread hashes and inserts, so on a shared
 * machine wall time depends on what else runs. Beside it: the CPU time of the whole process and,
 * on Linux, of each thread (from /proc/self/task): the busiest thread's CPU time is the least wall
 * time the import can take with a core per thread, and `mbPerBusiestThreadSecond` the rate that
 * gives. The machine's 1-minute load average at the start says how busy it was.
 *
 * Run alone:  npx tsx bench/datasets.ts [--mb 200] [--json] [--thread auto|worker|inline]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { importDataset } from '../src/main/datasets/importer';
import type { ReadThread } from '../src/main/datasets/row-source';
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
  /**
   * CPU seconds of each thread that used at least 10 ms during the import, busiest first (Linux;
   * empty elsewhere). `ended`: gone by the end (the import worker); the busiest of those is
   * also given the process CPU time no sample saw.
   */
  threads: { tid: number; name: string; cpuSeconds: number; ended: boolean }[];
  /** The busiest thread's CPU seconds: no schedule of these threads on free cores finishes sooner. */
  busiestThreadCpuSeconds: number | null;
  /** fileMB / busiestThreadCpuSeconds: the rate with a free core per thread. */
  mbPerBusiestThreadSecond: number | null;
  /** 1-minute load average when the import started (2 cores: above 2 means others were waiting for CPU too). */
  loadAverage: number;
  cores: number;
}

/** user + system CPU seconds of each thread of this process, by thread id (Linux; empty elsewhere). */
function threadCpu(): Map<number, { name: string; cpuSeconds: number }> {
  const out = new Map<number, { name: string; cpuSeconds: number }>();
  let tids: string[];
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  const tick = 100; // USER_HZ on Linux
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.set(Number(tid), { name, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / tick });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
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

export async function benchDatasets(opts: { mb?: number; thread?: ReadThread; log?: (line: string) => void } = {}): Promise<BenchDatasetsResult> {
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
    // Threads are sampled while alive (a worker's last reading comes with the import's progress).
    const threadsBefore = threadCpu();
    const threadsSeen = new Map(threadsBefore);
    const sampleThreads = () => threadCpu().forEach((v, tid) => threadsSeen.set(tid, v));
    const threadSampler = setInterval(sampleThreads, 100);
    const loadAverage = os.loadavg()[0];
    log(`importing ... (load average ${loadAverage.toFixed(2)} on ${os.cpus().length} cores)`);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await importDataset(
      repo,
      { path: file, onError: 'skip', evalFraction: 0.05, seed: 0, onDuplicate: 'new-dataset' },
      { thread: opts.thread, onProgress: sampleThreads },
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    clearInterval(sampler);
    clearInterval(threadSampler);
    sampleThreads();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const alive = threadCpu();
    const threads = [...threadsSeen]
      .map(([tid, t]) => ({ tid, name: t.name, cpuSeconds: t.cpuSeconds - (threadsBefore.get(tid)?.cpuSeconds ?? 0), ended: !alive.has(tid) }))
      .filter((t) => t.cpuSeconds >= 0.01)
      .sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    // A thread that ended (the import worker) used CPU after its last sample; the process total
    // says how much went unseen. Counting all of it to the busiest ended thread over-states the
    // busiest thread, never under-states it.
    const unseen = Math.max(0, cpuSeconds - threads.reduce((n, t) => n + t.cpuSeconds, 0));
    const endedBusiest = threads.find((t) => t.ended);
    if (endedBusiest) endedBusiest.cpuSeconds += unseen;
    for (const t of threads) t.cpuSeconds = Math.round(t.cpuSeconds * 1000) / 1000;
    threads.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    const busiest = threads.length ? threads[0].cpuSeconds : null;
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
      threads,
      busiestThreadCpuSeconds: busiest,
      mbPerBusiestThreadSecond: busiest ? fileMB / busiest : null,
      loadAverage,
      cores: os.cpus().length,
    };
    return result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatResult(r: BenchDatasetsResult): string {
  const busiest = r.busiestThreadCpuSeconds === null ? 'n/a' : `${r.busiestThreadCpuSeconds.toFixed(2)} s (${r.mbPerBusiestThreadSecond!.toFixed(1)} MB/s)`;
  return [
    '| file | rows | wall | MB/s | rows/s | CPU time | MB per CPU-s | busiest thread CPU (MB/s with a core per thread) | peak RSS (base) | load avg | goal ≥ 50 MB/s, < 500 MB |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    `| ${r.fileMB.toFixed(0)} MiB | ${r.rows} | ${r.seconds.toFixed(2)} s | ${r.mbPerSecond.toFixed(1)} | ${Math.round(r.rowsPerSecond)} | ${r.cpuSeconds.toFixed(2)} s | ${r.mbPerCpuSecond.toFixed(1)} | ${busiest} | ${r.peakRssMB.toFixed(0)} MB (${r.baseRssMB.toFixed(0)}) | ${r.loadAverage.toFixed(2)} / ${r.cores} cores | ${r.goalMet ? 'met' : 'NOT met'} |`,
    '',
    `threads: ${r.threads.map((t) => `${t.tid}${t.ended ? ' (ended)' : ''} ${t.cpuSeconds.toFixed(2)} s`).join(', ') || 'n/a'}`,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--mb');
  const t = argv.indexOf('--thread');
  const thread = t >= 0 ? argv[t + 1] : undefined;
  if (thread !== undefined && thread !== 'auto' && thread !== 'worker' && thread !== 'inline') throw new Error(`--thread: expected auto, worker or inline, got ${thread}`);
  const r = await benchDatasets({ mb: i >= 0 ? Number(argv[i + 1]) : undefined, thread, log: (l) => console.error(l) });
  console.log(argv.includes('--json') ? JSON.stringify(r) : formatResult(r));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
