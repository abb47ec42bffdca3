/** Words the UI uses for engine values. */
import type { ShellKind } from '../../shared/contract';
import type { ConnectionStatus } from './api/connection';

export const SHELL_LABELS: Record<ShellKind, string> = {
  desktop: 'Desktop app',
  web: 'Web app (local server)',
  cli: 'Command line',
};

export function connectionLabel(status: ConnectionStatus, now: number): string {
  switch (status.state) {
    case 'connected':
      return 'Live updates on';
    case 'connecting':
      return 'Connecting…';
    case 'unauthorized':
      return 'No session: reopen the printed URL';
    case 'reconnecting': {
      const s = status.retryAt ? Math.max(0, Math.ceil((status.retryAt - now) / 1000)) : 0;
      return s > 0 ? `Reconnecting in ${s} s` : 'Reconnecting…';
    }
  }
}
