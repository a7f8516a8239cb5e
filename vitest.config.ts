import { defineConfig } from 'vitest/config';

// Tests import workspace packages from their TypeScript sources (the "polis-source" export
// condition), so a test never runs against a stale dist/. Child processes that tests start run
// the built dist/, which `npm test` rebuilds first with `tsc -b`.
export default defineConfig({
  resolve: { conditions: ['polis-source'] },
  ssr: { resolve: { conditions: ['polis-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
  },
});
