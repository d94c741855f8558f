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
  testTimeout: 120000,
  maxWorkers: 2,
};
