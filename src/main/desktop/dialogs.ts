/** Native dialogs, answering the desktop-only contract calls. */
import { dialog, type BrowserWindow } from 'electron';
import type { PickFolderResult } from '../../shared/contract';
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
  }) satisfies HandlerGroup<'dialog.pickFolder'>;
