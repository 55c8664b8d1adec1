import { defineConfig } from 'vitest/config';

// Three projects: unit (fast, fakes only), charts (real helm 3 and 4 binaries),
// e2e (real kube-apiserver + kwok, headscale, tailscaled; started by the tests).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/unit/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'charts',
          include: ['test/charts/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 240_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
