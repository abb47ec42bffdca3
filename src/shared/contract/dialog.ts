/**
 * Native dialogs. Desktop only: the Electron shell answers with the system folder picker; the web
 * shell and the CLI answer with an error telling the user to type the path instead.
 */
import { z } from 'zod';
import { call } from './define';

export interface PickFolderResult {
  /** The chosen folder, absolute; null when the user cancelled. */
  path: string | null;
}

export const dialogCalls = {
  'dialog.pickFolder': call<PickFolderResult>()(
    z
      .object({
        title: z.string().max(200).optional(),
        /** Folder the picker opens in. */
        defaultPath: z.string().max(4096).optional(),
      })
      .strict(),
  ),
};

export const dialogEvents = {};
