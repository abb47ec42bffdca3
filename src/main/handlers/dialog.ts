import type { HandlerGroup } from './types';
import { UserError } from '../errors';

/**
 * Outside the desktop shell there is no native dialog to show (the web page runs in a browser that
 * may be on another screen); the desktop shell replaces this handler with Electron's folder picker.
 */
export const dialogHandlers = () =>
  ({
    'dialog.pickFolder': () => {
      throw new UserError('the folder picker exists only in the desktop app; type the folder path instead');
    },
  }) satisfies HandlerGroup<'dialog.pickFolder'>;
