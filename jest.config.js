// jest runs the TypeScript sources directly as ES modules (ts-jest ESM preset);
// type checking is a separate step of `npm test` (tsc --noEmit), see ../shared/STACK.md.
import { createDefaultEsmPreset } from 'ts-jest';

const preset = createDefaultEsmPreset({ tsconfig: { isolatedModules: true } });

export default {
  ...preset,
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/spec/setup-env.ts'],
  // HWAY_TEST_CLUSTER=1: one local Redis Cluster for the whole run (HWAY_TEST_REDIS_CLUSTER for the
  // workers); otherwise these do nothing and the tests use the single Redis. See spec/helpers/redis.ts.
  globalSetup: '<rootDir>/spec/cluster-setup.ts',
  globalTeardown: '<rootDir>/spec/cluster-teardown.ts',
  // Hang-only: a test fails on time only when something never finishes, never because the machine is
  // busy (see spec/helpers/deadlines.ts; the waits inside tests give up after 3 minutes).
  testTimeout: 10 * 60_000,
  maxWorkers: 2,
};
