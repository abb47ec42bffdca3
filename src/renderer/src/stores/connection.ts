/** The link to the engine, for the connection indicator (web shell: HTTP + WebSocket; desktop: IPC). */
import { defineStore } from 'pinia';
import { computed, shallowRef } from 'vue';
import { api } from '../api';

export const useConnectionStore = defineStore('connection', () => {
  const status = shallowRef(api.connection.get());
  api.connection.subscribe((s) => {
    status.value = s;
  });
  const shell = api.kind;
  const healthy = computed(() => status.value.state === 'connected');
  return { status, shell, healthy };
});

/**
 * Calls `refresh` whenever the link comes back after being down: events sent while it was down
 * were missed, so stores reload what they show.
 */
export function onReconnected(refresh: () => void): void {
  let wasDown = api.connection.get().state !== 'connected';
  api.connection.subscribe((s) => {
    const down = s.state !== 'connected';
    if (wasDown && !down) refresh();
    wasDown = down;
  });
}
