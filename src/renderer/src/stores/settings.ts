/** User settings (theme, forced backend), kept in the engine's database and live across windows. */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { Settings } from '../../../shared/contract';
import { api } from '../api';
import { onReconnected } from './connection';
import { errorMessage } from '../format';

type SettingsPatch = Partial<Settings>;

export const useSettingsStore = defineStore('settings', () => {
  const settings = shallowRef<Settings | null>(null);
  const error = ref<string | null>(null);
  /** Which setting is being saved, for per-control progress and errors. */
  const saving = ref<keyof Settings | null>(null);
  const saveError = ref<{ key: keyof Settings; message: string } | null>(null);

  async function load(): Promise<void> {
    try {
      settings.value = await api.call('settings.get', {});
      error.value = null;
    } catch (err) {
      error.value = errorMessage(err);
    }
  }

  async function update(patch: SettingsPatch): Promise<boolean> {
    const key = Object.keys(patch)[0] as keyof Settings;
    saving.value = key;
    saveError.value = null;
    try {
      settings.value = await api.call('settings.update', patch);
      return true;
    } catch (err) {
      saveError.value = { key, message: errorMessage(err) };
      return false;
    } finally {
      saving.value = null;
    }
  }

  // Another window or tab changed them.
  api.on('settings.changed', (next) => {
    settings.value = next;
  });
  onReconnected(() => void load());

  return { settings, error, saving, saveError, load, update };
});
