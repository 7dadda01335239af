import { defineConfig } from 'vitest/config';

// One real control plane per run (globalSetup starts and stops it); test files share it and
// each gets a namespace of its own. The API server is shared, so files run one at a time:
// two cores cannot run the control plane and several heavy files at once without timeouts.
export default defineConfig({
  test: {
    include: ['tests/integration/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['tests/integration/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
