// Opening enclaves in tests: a fresh random master key ring per test file, the production plugin
// unless a test needs the test-only exports.
import { randomBytes } from 'node:crypto';
import { Enclave, type EnclaveOptions } from '../../enclaves/enclave.js';
import { ring, type MasterKey, type MasterKeyRing } from '../../enclaves/master-keys.js';

export function masterKey(id: number): MasterKey {
  return { id, key: Uint8Array.from(randomBytes(32)) };
}

export function testRing(...keys: MasterKey[]): MasterKeyRing {
  return ring(keys.length > 0 ? keys : [masterKey(1)]);
}

export function openEnclave(options: EnclaveOptions = {}): Promise<Enclave> {
  return Enclave.open({ workers: 2, kdfWorkers: 1, ...options });
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** Whether `haystack` contains `needle` anywhere (secrets must never appear in host-visible bytes). */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) !== -1;
}
