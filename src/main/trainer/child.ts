/**
 * Entry of the trainer process. Speaks the protocol in ./protocol.ts over process IPC (a forked
 * child, or an Electron utilityProcess whose parentPort is adapted to the same calls), runs one
 * job, and exits. If the engine goes away the trainer exits too: the last checkpoint is what a
 * resume continues from.
 */
import type { ParentLink, TrainerEvent, TrainerRequest } from './protocol';
import { runJob } from './job';

/** Electron's utilityProcess gives the child `process.parentPort` instead of process.send. */
interface ElectronParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

function processLink(): ParentLink {
  const port = (process as unknown as { parentPort?: ElectronParentPort }).parentPort;
  if (port) {
    return {
      send: (ev) => port.postMessage(ev),
      onRequest: (listener) => port.on('message', (e) => listener(e.data as TrainerRequest)),
      // Electron ends a utility process together with its parent.
      onDisconnect: () => {},
    };
  }
  if (!process.send) throw new Error('the trainer must be started with an IPC channel (child_process.fork or utilityProcess)');
  return {
    send(ev: TrainerEvent) {
      if (process.connected) process.send!(ev);
    },
    onRequest(listener) {
      process.on('message', (m) => listener(m as TrainerRequest));
    },
    onDisconnect(listener) {
      process.on('disconnect', listener);
    },
  };
}

const link = processLink();
link.onDisconnect(() => process.exit(3));
link.onRequest((req) => {
  if (req.type !== 'start') return;
  runJob(req.job, link).then(
    () => setTimeout(() => process.exit(0), 50),
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const outOfMemory = /out of memory|allocation failed|Array buffer allocation|Invalid array length|heap/i.test(e.message);
      link.send({ type: 'error', message: e.message, stack: e.stack, outOfMemory });
      setTimeout(() => process.exit(1), 50);
    },
  );
});
link.send({ type: 'ready', pid: process.pid });
