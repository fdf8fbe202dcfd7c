import { defineConfig } from 'vitest/config';

// Each test file runs in its own forked process, so each gets its own SoftHSM library instance
// (PKCS#11 state is process-global: see ../shared/notes/toolchain.md, gotchas 4 and 12).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
