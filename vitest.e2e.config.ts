/**
 * End-to-end suites (`npm run test:e2e`, through scripts/e2e.mjs which builds the UI first):
 * Playwright drives Debian's Chromium against the web shell, and Electron's window where it exists.
 * One file at a time: each starts a browser, and the machine is shared.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 90_000,
    hookTimeout: 120_000,
    reporters: ['verbose'],
  },
});
