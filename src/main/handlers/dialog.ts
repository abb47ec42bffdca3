import type { HandlerGroup } from './types';
import { UserError } from '../errors';

/**
 * Outside the desktop shell there is no native dialog to show (the web page runs in a browser that
 * may be on another screen); the desktop shell replaces these handlers with Electron's pickers.
 */
export const dialogHandlers = () =>
  ({
    'dialog.pickFolder': () => {
      throw new UserError('the folder picker exists only in the desktop app; type the folder path instead');
    },
    'dialog.pickFile': () => {
      throw new UserError('the file picker exists only in the desktop app; type the file path instead');
    },
  }) satisfies HandlerGroup<'dialog.pickFolder' | 'dialog.pickFile'>;
