/**
 * The desktop window's preload (sandboxed, context-isolated): exposes the contract's calls and events
 * as `window.loraStudio`, nothing more.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { buildDesktopBridge } from './bridge';

contextBridge.exposeInMainWorld('loraStudio', buildDesktopBridge(ipcRenderer));
