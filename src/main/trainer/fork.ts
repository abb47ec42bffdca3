/**
 * Runs the trainer as a Node child process (child_process.fork through tsx), for the web and CLI
 * shells. The desktop shell provides the same TrainerChannel over Electron's utilityProcess.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainerChannel, TrainerEvent } from './protocol';

export const CHILD_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.ts');

const STDERR_KEPT = 8000;

export function forkTrainer(opts: { env?: NodeJS.ProcessEnv } = {}): TrainerChannel {
  const child = fork(CHILD_ENTRY, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...opts.env },
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
  });
  const exitListeners: ((code: number | null, signal: string | null, detail: string) => void)[] = [];
  let exited = false;
  child.on('exit', (code, signal) => {
    exited = true;
    // stderr may still hold unread bytes; give the pipe a moment to drain.
    setImmediate(() => exitListeners.forEach((l) => l(code, signal, stderr.trim())));
  });
  child.on('error', () => {
    /* reported through 'exit' */
  });
  return {
    get pid() {
      return child.pid;
    },
    send(req) {
      if (!exited && child.connected) child.send(req);
    },
    onEvent(listener) {
      child.on('message', (m) => listener(m as TrainerEvent));
    },
    onExit(listener) {
      exitListeners.push(listener);
    },
    kill(signal = 'SIGTERM') {
      if (!exited) child.kill(signal);
    },
  };
}
