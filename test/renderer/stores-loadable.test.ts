/**
 * The load/error helpers the stores share (src/renderer/src/stores/loadable.ts): one request for
 * concurrent loads, `loaded` only after a first success, an error that keeps the data and clears on
 * the next success; per-id values fetched once unless forced, per-id errors, the spinner id.
 */
import { describe, expect, it } from 'vitest';
import { useKeyedLoadable, useLoadable } from '../../src/renderer/src/stores/loadable';

/** A promise the test settles by hand. */
function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('useLoadable', () => {
  it('shares one request between concurrent loads and marks loaded after it', async () => {
    const answers: Array<ReturnType<typeof deferred<string[]>>> = [];
    let items: string[] = [];
    const list = useLoadable(async () => {
      const d = deferred<string[]>();
      answers.push(d);
      items = await d.promise;
    });
    expect(list.loaded.value).toBe(false);

    const first = list.load();
    const second = list.load();
    expect(second).toBe(first);
    expect(answers).toHaveLength(1);
    expect(list.loading.value).toBe(true);

    answers[0].resolve(['a', 'b']);
    await first;
    expect(items).toEqual(['a', 'b']);
    expect(list.loaded.value).toBe(true);
    expect(list.loading.value).toBe(false);

    // Settled: the next load asks again.
    const third = list.load();
    expect(third).not.toBe(first);
    expect(answers).toHaveLength(2);
    answers[1].resolve(['c']);
    await third;
    expect(items).toEqual(['c']);
  });

  it('keeps the data and loaded on a failure, reports it, and clears it on the next success', async () => {
    let fail: Error | null = null;
    let items: string[] = [];
    const list = useLoadable(async () => {
      if (fail) throw fail;
      items = ['kept'];
    });
    await list.load();
    fail = new Error('the server could not be reached');
    await expect(list.load()).resolves.toBeUndefined();
    expect(list.error.value).toBe('the server could not be reached');
    expect(list.loaded.value).toBe(true);
    expect(items).toEqual(['kept']);
    fail = null;
    await list.load();
    expect(list.error.value).toBeNull();
  });

  it('stays not loaded when the first load fails', async () => {
    const list = useLoadable(async () => {
      throw new Error('401');
    });
    await list.load();
    expect(list.loaded.value).toBe(false);
    expect(list.error.value).toBe('401');
  });
});

describe('useKeyedLoadable', () => {
  it('fetches an id once unless forced, and forgets on request', async () => {
    const asked: number[] = [];
    const cache = useKeyedLoadable(async (id) => {
      asked.push(id);
      return { id, n: asked.length };
    });
    expect(await cache.get(3)).toEqual({ id: 3, n: 1 });
    expect(await cache.get(3)).toEqual({ id: 3, n: 1 });
    expect(asked).toEqual([3]);
    expect(await cache.get(3, true)).toEqual({ id: 3, n: 2 });
    expect(cache.values.value[3]).toEqual({ id: 3, n: 2 });
    cache.forget(3);
    expect(cache.values.value).toEqual({});
    await cache.get(3);
    expect(asked).toEqual([3, 3, 3]);
  });

  it('keeps an error per id, keeps the old value, and clears the error on success', async () => {
    let fail = false;
    const cache = useKeyedLoadable(async (id) => {
      if (fail) throw new Error(`#${id} is gone`);
      return `value ${id}`;
    });
    await cache.get(1);
    await cache.get(2);
    fail = true;
    expect(await cache.get(1, true)).toBeNull();
    expect(cache.errors.value).toEqual({ 1: '#1 is gone' });
    expect(cache.values.value[1]).toBe('value 1');
    fail = false;
    expect(await cache.get(1, true)).toBe('value 1');
    expect(cache.errors.value).toEqual({});
  });

  it('shows the latest id asked for as loading, not one an older answer finishes', async () => {
    const answers = new Map<number, ReturnType<typeof deferred<string>>>();
    const cache = useKeyedLoadable((id) => {
      const d = deferred<string>();
      answers.set(id, d);
      return d.promise;
    });
    const one = cache.get(1);
    expect(cache.loadingId.value).toBe(1);
    const two = cache.get(2);
    expect(cache.loadingId.value).toBe(2);
    answers.get(1)!.resolve('first');
    await one;
    expect(cache.loadingId.value).toBe(2);
    answers.get(2)!.reject(new Error('nope'));
    await two;
    expect(cache.loadingId.value).toBeNull();
  });
});
