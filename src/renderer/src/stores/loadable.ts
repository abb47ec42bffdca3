/**
 * The load / error state the stores share, so each domain store (one Pinia setup store per
 * domain) keeps only what is its own. The helpers never talk to the engine: the store passes in
 * the function that calls `api`, and keeps the transport module the only one that does.
 *
 * - `useLoadable(fetch)`: a list loaded once and refreshed on events; `loaded` stays false until
 *   the first answer (pages show a placeholder, not an empty library), and concurrent `load()`
 *   calls share one request.
 * - `useKeyedLoadable(fetch)`: one value per id (details, model cards, spectra) with its error and
 *   which id is being fetched.
 */
import { ref, shallowRef, type Ref, type ShallowRef } from 'vue';
import { errorMessage } from '../format';

export interface Loadable {
  loaded: Ref<boolean>;
  loading: Ref<boolean>;
  error: Ref<string | null>;
  /** Fetches again; a call while one is in flight gets that one's promise. Never rejects. */
  load(): Promise<void>;
}

/** `fetch` stores what it got (the store's own refs); a throw becomes `error`, the data stays. */
export function useLoadable(fetch: () => Promise<void>): Loadable {
  const loaded = ref(false);
  const loading = ref(false);
  const error = ref<string | null>(null);

  let pending: Promise<void> | null = null;
  function load(): Promise<void> {
    pending ??= (async () => {
      loading.value = true;
      try {
        await fetch();
        error.value = null;
        loaded.value = true;
      } catch (err) {
        error.value = errorMessage(err);
      } finally {
        loading.value = false;
        pending = null;
      }
    })();
    return pending;
  }

  return { loaded, loading, error, load };
}

export interface KeyedLoadable<V> {
  /** Fetched values by id; replaced (never mutated), so a shallow ref is enough. */
  values: ShallowRef<Record<number, V>>;
  /** The last failure by id, cleared when a later fetch of that id succeeds. */
  errors: Ref<Record<number, string>>;
  /** The id being fetched (the latest asked for), for spinners. */
  loadingId: Ref<number | null>;
  /** The stored value unless `force`, else a fresh one; null when the call failed. */
  get(id: number, force?: boolean): Promise<V | null>;
  /** Drops the value of an id (deleted, or known to be stale). */
  forget(id: number): void;
}

export function useKeyedLoadable<V>(fetch: (id: number) => Promise<V>): KeyedLoadable<V> {
  const values = shallowRef<Record<number, V>>({});
  const errors = ref<Record<number, string>>({});
  const loadingId = ref<number | null>(null);

  async function get(id: number, force = false): Promise<V | null> {
    if (!force && id in values.value) return values.value[id];
    loadingId.value = id;
    try {
      const v = await fetch(id);
      values.value = { ...values.value, [id]: v };
      const { [id]: _dropped, ...rest } = errors.value;
      errors.value = rest;
      return v;
    } catch (err) {
      errors.value = { ...errors.value, [id]: errorMessage(err) };
      return null;
    } finally {
      if (loadingId.value === id) loadingId.value = null;
    }
  }

  function forget(id: number): void {
    const { [id]: _dropped, ...rest } = values.value;
    values.value = rest;
  }

  return { values, errors, loadingId, get, forget };
}
