/**
 * Native dialogs. Desktop only: the Electron shell answers with the system file and folder pickers;
 * the web shell and the CLI answer with an error telling the user to type the path instead (the web
 * page offers the engine's own folder browser, `models.browse`).
 */
import { z } from 'zod';
import { call } from './define';

export interface PickFolderResult {
  /** The chosen folder, absolute; null when the user cancelled. */
  path: string | null;
}

export interface PickFileResult {
  /** The chosen file, absolute; null when the user cancelled. */
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
  'dialog.pickFile': call<PickFileResult>()(
    z
      .object({
        title: z.string().max(200).optional(),
        defaultPath: z.string().max(4096).optional(),
        /** Offered file types, e.g. { name: 'Datasets', extensions: ['jsonl', 'csv'] } (no dots). */
        filters: z
          .array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^[A-Za-z0-9*]{1,16}$/)).max(32) }).strict())
          .max(8)
          .optional(),
      })
      .strict(),
  ),
};

export const dialogEvents = {};
