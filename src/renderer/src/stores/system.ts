/** Engine status: shell, backends and the one in use, data dir, database, memory (`system.status`). */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import type { SystemStatus } from '../../../shared/contract';
import { api } from '../api';
import { onReconnected } from './connection';
import { errorMessage } from '../format';

export const useSystemStore = defineStore('system', () => {
  const status = shallowRef<SystemStatus | null>(null);
  const error = ref<string | null>(null);
  const loading = ref(false);
  let pending: Promise<void> | null = null;

  function refresh(): Promise<void> {
    pending ??= (async () => {
      loading.value = true;
      try {
        status.value = await api.call('system.status', {});
        error.value = null;
      } catch (err) {
        error.value = errorMessage(err);
      } finally {
        loading.value = false;
        pending = null;
      }
    })();
    return pending;
  }

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
