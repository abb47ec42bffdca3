/**
 * The desktop shell: Electron's main process. The only engine-side module that imports electron.
 * Opens the engine on the app's data dir, shows one locked-down window on the built renderer, and
 * connects the two: contract calls over IPC (ipc.ts), engine events to the window.
 *
 * Start: `npm start` (Electron present), or `electron . [--data-dir DIR]` after `npm run build`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, session, utilityProcess } from 'electron';
import { openEngine } from '../bootstrap';
import type { Engine } from '../engine';
import { createHandlers } from '../handlers';
import { errorMessage } from '../errors';
import { appRoot } from '../storage/paths';
import { IPC_EVENT_CHANNEL, type IpcEventMessage } from '../../shared/desktop-bridge';
import { appUrlMatcher, registerIpcHandlers } from './ipc';
import { desktopDataDir } from './options';
import { applySessionPolicy, createMainWindow, hardenWebContents } from './window';
import { desktopDialogHandlers } from './dialogs';
import { utilityTrainer } from './trainer';

const here = path.dirname(fileURLToPath(import.meta.url)); // out/main
const devServerUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;

/**
 * better-sqlite3 is a native module: Electron needs the build made for its own ABI
 * (native/electron/, made by scripts/postinstall.mjs); the engine's db.ts loads it from there.
 */
function useElectronSqliteBuild(): void {
  if (process.env.LORA_STUDIO_SQLITE_BINDING) return;
  const binding = path.join(appRoot(), 'native', 'electron', 'better_sqlite3.node');
  if (fs.existsSync(binding)) process.env.LORA_STUDIO_SQLITE_BINDING = binding;
}

/** A start-up failure: the cause in a dialog (a desktop user has no terminal), then exit. */
function fail(title: string, err: unknown): void {
  const message = errorMessage(err);
  console.error(`${title}: ${message}`);
  dialog.showErrorBox(title, message);
  app.exit(1);
}

async function start(): Promise<void> {
  let engine: Engine;
  try {
    useElectronSqliteBuild();
    const dataDir = desktopDataDir(process.argv.slice(1), process.env, app.getPath('userData'));
    // Training runs in a utility process built next to this file (electron.vite.config.ts).
    const trainerEntry = path.join(here, 'trainer-child.js');
    engine = openEngine({ dataDir, shell: 'desktop', spawnTrainer: () => utilityTrainer(utilityProcess, trainerEntry) });
  } catch (err) {
    fail('LoRA Studio cannot open its data', err);
    return;
  }

  applySessionPolicy(session.defaultSession, devServerUrl !== undefined);
  const appUrl = devServerUrl ?? pathToFileURL(path.join(here, '..', 'renderer', 'index.html')).href;
  const window: BrowserWindow = createMainWindow({
    preload: path.join(here, '..', 'preload', 'index.cjs'),
    appUrl,
    dev: devServerUrl !== undefined,
  });

  const handlers = { ...createHandlers(engine), ...desktopDialogHandlers(window) };
  const unregister = registerIpcHandlers(ipcMain, handlers, window, appUrlMatcher(appUrl));
  const unsubscribe = engine.events.onAny((event, payload) => {
    if (!window.isDestroyed()) window.webContents.send(IPC_EVENT_CHANNEL, { event, payload } satisfies IpcEventMessage);
  });
  engine.onClose(() => {
    unsubscribe();
    unregister();
  });

  let closed = false;
  app.on('will-quit', (event) => {
    if (closed) return;
    // Let the engine finish (stop trainers, close the database) before the process ends.
    event.preventDefault();
    closed = true;
    engine
      .close()
      .catch((err: unknown) => console.error('desktop: engine close failed:', err))
      .finally(() => app.quit());
  });

  await window.loadURL(appUrl);
}

if (!app.requestSingleInstanceLock()) {
  // One running copy: a second start focuses the first one's window instead.
  app.quit();
} else {
  app.on('second-instance', () => {
    const [window] = BrowserWindow.getAllWindows();
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });
  // Every web contents, the window's included, gets the navigation and window.open rules.
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));
  app.on('window-all-closed', () => app.quit());
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => fail('LoRA Studio failed to start', err));
}
