/**
 * Choosing a folder (or, with a file picker as `pick`, a file) for a form field: the desktop
 * shell's native picker, or in the web shell the server-side FolderBrowserDialog, which the component shows while `browsing` and whose choice it
 * passes to `browsed`. A picker that fails to open leaves its message in `pickError`.
 */
import { ref, type Ref } from 'vue';
import { errorMessage } from '../format';

export interface FolderChoice {
  browsing: Ref<boolean>;
  pickError: Ref<string | null>;
  /** The button's action: opens the native picker, or the folder browser. */
  choose(): Promise<void>;
  /** The folder browser's `choose` event. */
  browsed(path: string): void;
}

export function useFolderChoice(opts: {
  /** Whether this shell has a native picker (the stores' `canPickNatively`). */
  native: () => boolean;
  /** Opens the native picker; null when the user cancelled. */
  pick: () => Promise<string | null>;
  /** A folder was chosen; awaited for the native picker, so its failure is reported too. */
  chosen: (path: string, from: 'picker' | 'browser') => void | Promise<void>;
}): FolderChoice {
  const browsing = ref(false);
  const pickError = ref<string | null>(null);

  async function choose(): Promise<void> {
    pickError.value = null;
    if (!opts.native()) {
      browsing.value = true;
      return;
    }
    try {
      const picked = await opts.pick();
      if (picked) await opts.chosen(picked, 'picker');
    } catch (err) {
      pickError.value = errorMessage(err);
    }
  }

  function browsed(path: string): void {
    browsing.value = false;
    void opts.chosen(path, 'browser');
  }

  return { browsing, pickError, choose, browsed };
}
