/**
 * The desktop shell's trainer process: Electron's utilityProcess (a Node child that Electron
 * manages, ends with the app and that needs no separate Node binary) behind the engine's
 * TrainerChannel, the same interface child_process.fork gives the web and CLI shells.
 *
 * The child (src/main/trainer/child.ts, built to out/main/trainer-child.js) sees
 * `process.parentPort` and speaks the protocol over it. Differences to fork that this hides:
 *   - messages arrive as `message` events with the value itself (the child receives `{ data }`);
 *   - `exit` reports only a code, so the signal a kill sent is remembered here;
 *   - `kill()` takes no signal (it sends SIGTERM); SIGKILL goes through process.kill(pid).
 *
 * Only the structural shape of utilityProcess is used, so tests drive this file with a stand-in.
 */
import type { TrainerChannel, TrainerEvent } from '../trainer/protocol';

/** The part of Electron's UtilityProcess this uses. */
export interface UtilityProcessLike {
  readonly pid: number | undefined;
  readonly stderr: NodeJS.ReadableStream | null;
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): this;
  on(event: 'exit', listener: (code: number) => void): this;
  on(event: 'error', listener: (type: 'FatalError', location: string, report: string) => void): this;
  kill(): boolean;
}

/** The part of Electron's `utilityProcess` module this uses. */
export interface UtilityProcessModule {
  fork(modulePath: string, args?: string[], options?: { env?: NodeJS.ProcessEnv; stdio?: 'pipe' | 'ignore' | 'inherit' | ('pipe' | 'ignore' | 'inherit')[]; serviceName?: string }): UtilityProcessLike;
}

const STDERR_KEPT = 8000;

export function utilityTrainer(utility: UtilityProcessModule, entry: string, opts: { env?: NodeJS.ProcessEnv } = {}): TrainerChannel {
  const child = utility.fork(entry, [], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    serviceName: 'LoRA Studio trainer',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
  });
  const exitListeners: ((code: number | null, signal: string | null, detail: string) => void)[] = [];
  let exited = false;
  let sentSignal: NodeJS.Signals | null = null;
  child.on('exit', (code) => {
    exited = true;
    // A killed process reports a code only; name the signal we sent, as fork's 'exit' would.
    const signal = sentSignal && code !== 0 ? sentSignal : null;
    setImmediate(() => exitListeners.forEach((l) => l(signal ? null : code, signal, stderr.trim())));
  });
  child.on('error', () => {
    /* a fatal error in the child is followed by 'exit' */
  });
  return {
    get pid() {
      return child.pid;
    },
    send(req) {
      if (!exited) child.postMessage(req);
    },
    onEvent(listener) {
      child.on('message', (m) => listener(m as TrainerEvent));
    },
    onExit(listener) {
      exitListeners.push(listener);
    },
    kill(signal = 'SIGTERM') {
      if (exited) return;
      sentSignal = signal;
      if (signal === 'SIGTERM' || child.pid === undefined) child.kill();
      else process.kill(child.pid, signal);
    },
  };
}
