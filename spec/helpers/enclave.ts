// Opening enclaves in tests: a fresh random master key ring per test file, the production plugin
// unless a test needs the test-only exports.
import { randomBytes } from 'node:crypto';
import { Enclave, type EnclaveOptions, type SealBinding } from '../../enclaves/enclave.js';
import { ring, type MasterKey, type MasterKeyRing } from '../../enclaves/master-keys.js';
import { HANG_MS } from './deadlines.js';

export function masterKey(id: number): MasterKey {
  return { id, key: Uint8Array.from(randomBytes(32)) };
}

export function testRing(...keys: MasterKey[]): MasterKeyRing {
  return ring(keys.length > 0 ? keys : [masterKey(1)]);
}

/**
 * An enclave for a test. Its per-call timeout is hang-only unless the test sets one: an export or
 * import runs Argon2id at 256 MiB (1-3 s of CPU here, far more on a busy machine), which is ordinary
 * work, not a hang. Tests of the timeout itself pass a short `timeoutMs` with a call that never ends.
 */
export function openEnclave(options: EnclaveOptions = {}): Promise<Enclave> {
  return Enclave.open({ workers: 2, kdfWorkers: 1, timeoutMs: HANG_MS, ...options });
}

/** The account of seals made by enclave-level tests that are not about accounts. */
export const TEST_ACCOUNT = 'spec';

/** A seal binding for a test: the vault id, and TEST_ACCOUNT unless the test is about accounts. */
export const bind = (vaultId: string, account = TEST_ACCOUNT): SealBinding => ({ vaultId, account });

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** Whether `haystack` contains `needle` anywhere (secrets must never appear in host-visible bytes). */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}
