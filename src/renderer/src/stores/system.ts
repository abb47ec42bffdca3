/** Engine status: shell, backends and the one in use, data dir, database, memory (`system.status`). */
import { defineStore } from 'pinia';
import { computed, shallowRef } from 'vue';
import type { SystemStatus } from '../../../shared/contract';
import { api } from '../api';
import { onReconnected } from './connection';
import { useLoadable } from './loadable';

export const useSystemStore = defineStore('system', () => {
  const status = shallowRef<SystemStatus | null>(null);
  const { error, loading, load: refresh } = useLoadable(async () => {
    status.value = await api.call('system.status', {});
  });

  // A forced backend changes which one is in use.
  api.on('settings.changed', () => void refresh());
  onReconnected(() => void refresh());

  const backendInUse = computed(() => {
    const s = status.value;
    if (!s) return null;
    return s.backends.find((b) => b.name === s.backend.name) ?? null;
  });

  return { status, error, loading, refresh, backendInUse };
});
