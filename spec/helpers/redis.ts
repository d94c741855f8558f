// Test cleanup: every key under a test's prefix (test files run in parallel against one Redis, each
// under its own prefix).
export { deleteKeysWithPrefix as deleteKeys } from '../../storage/prefix-keys.js';
