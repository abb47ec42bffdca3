/** Native dialogs, answering the desktop-only contract calls. */
import { dialog, type BrowserWindow } from 'electron';
import type { PickFileResult, PickFolderResult } from '../../shared/contract';
import type { HandlerGroup } from '../handlers/types';

export const desktopDialogHandlers = (window: BrowserWindow) =>
  ({
    'dialog.pickFolder': async (args): Promise<PickFolderResult> => {
      const picked = await dialog.showOpenDialog(window, {
        title: args.title ?? 'Choose a folder',
        defaultPath: args.defaultPath,
        properties: ['openDirectory', 'dontAddToRecent'],
      });
      return { path: picked.canceled || picked.filePaths.length === 0 ? null : picked.filePaths[0] };
    },
    'dialog.pickFile': async (args): Promise<PickFileResult> => {
      const picked = await dialog.showOpenDialog(window, {
        title: args.title ?? 'Choose a file',
        defaultPath: args.defaultPath,
        filters: args.filters ? [...args.filters, { name: 'All files', extensions: ['*'] }] : undefined,
        properties: ['openFile', 'dontAddToRecent'],
      });
      return { path: picked.canceled || picked.filePaths.length === 0 ? null : picked.filePaths[0] };
    },
  }) satisfies HandlerGroup<'dialog.pickFolder' | 'dialog.pickFile'>;
