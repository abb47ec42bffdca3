/** `window.loraStudio`: present only in the desktop shell, put there by src/preload. */
import type { DesktopBridge } from '../../shared/desktop-bridge';

declare global {
  interface Window {
    loraStudio?: DesktopBridge;
  }
}

export {};
