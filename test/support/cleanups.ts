import { afterEach } from 'vitest';

/**
 * What a test started, stopped after it in reverse order whether it passed or failed: a
 * failing assertion must never leave a server or a process running.
 */
export const withCleanups = (): (() => Promise<unknown>)[] => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
};
