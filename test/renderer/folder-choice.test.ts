/**
 * Choosing a folder for a form (src/renderer/src/components/folder-choice.ts): the native picker
 * where the shell has one (a cancel chooses nothing, a failure is reported and the next try clears
 * it), the folder browser elsewhere (opened by the button, closed by its choice).
 */
import { describe, expect, it } from 'vitest';
import { useFolderChoice } from '../../src/renderer/src/components/folder-choice';

function setup(native: boolean, pick: () => Promise<string | null>) {
  const chosen: Array<[string, string]> = [];
  const choice = useFolderChoice({ native: () => native, pick, chosen: (path, from) => void chosen.push([path, from]) });
  return { choice, chosen };
}

describe('useFolderChoice', () => {
  it('passes on what the native picker returns, and nothing when the user cancels', async () => {
    let answer: string | null = '/home/you/models/tiny';
    const { choice, chosen } = setup(true, async () => answer);
    await choice.choose();
    expect(chosen).toEqual([['/home/you/models/tiny', 'picker']]);
    expect(choice.browsing.value).toBe(false);
    answer = null;
    await choice.choose();
    expect(chosen).toHaveLength(1);
  });

  it('reports a picker that does not open, and clears that on the next try', async () => {
    let fail = true;
    const { choice, chosen } = setup(true, async () => {
      if (fail) throw new Error('no display');
      return '/data';
    });
    await choice.choose();
    expect(choice.pickError.value).toBe('no display');
    expect(chosen).toEqual([]);
    fail = false;
    await choice.choose();
    expect(choice.pickError.value).toBeNull();
    expect(chosen).toEqual([['/data', 'picker']]);
  });

  it('reports a failure of what the chosen folder starts (awaited for the native picker)', async () => {
    const choice = useFolderChoice({
      native: () => true,
      pick: async () => '/data',
      chosen: async () => {
        throw new Error('the engine is gone');
      },
    });
    await choice.choose();
    expect(choice.pickError.value).toBe('the engine is gone');
  });

  it('opens the folder browser without a native picker, and closes it with its choice', async () => {
    let picked = 0;
    const { choice, chosen } = setup(false, async () => {
      picked++;
      return null;
    });
    await choice.choose();
    expect(choice.browsing.value).toBe(true);
    expect(picked).toBe(0);
    choice.browsed('/srv/adapters/a');
    expect(choice.browsing.value).toBe(false);
    expect(chosen).toEqual([['/srv/adapters/a', 'browser']]);
  });
});
