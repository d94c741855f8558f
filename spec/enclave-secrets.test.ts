// Secrets never reach the host in plaintext: not in any output of any export, not in error messages,
// not in logs (captured at debug level while the pool replaces a worker). Nonces never repeat.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { HwayError } from '../errors.js';
import { setRootLogger } from '../log.js';
import { sealOnHost } from './helpers/oracle.js';
import { bind, contains, hex, masterKey, openEnclave, testRing } from './helpers/enclave.js';
import { HANG_MS } from './helpers/deadlines.js';

const master = masterKey(3);
const logs: string[] = [];
let enclave: Enclave;
let vault: VaultEnclave;
// A second pool for the call that never finishes (t_spin): there the short timeout is the behaviour
// under test. The first pool's calls (KDFs, 2,000 generates) are ordinary work: a hang-only timeout.
// (The timeout is per pool. The one other call made on the spinning pool, a failing sign submitted
// with the spin as before, gets the same 3 s of its own execution: some 1000× what a sign takes.)
let spinning: Enclave;
let spinVault: VaultEnclave;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  setRootLogger(winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] }));
  enclave = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(master), workers: 1, timeoutMs: HANG_MS });
  vault = await enclave.vault();
  spinning = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(master), workers: 1, timeoutMs: 3000 });
  spinVault = await spinning.vault();
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
  await spinVault?.close();
  await spinning?.close();
});

/** Every 8-byte window of the secret: a partial leak counts too. */
function leaks(haystack: Uint8Array, secret: Uint8Array): boolean {
  for (let i = 0; i + 8 <= secret.length; i++) if (contains(haystack, secret.subarray(i, i + 8))) return true;
  return false;
}

test('no output, error or log carries the private key, the password or the master key', async () => {
  const priv = Uint8Array.from(randomBytes(32));
  const password = 'a password nobody may see ' + hex(randomBytes(8));
  const pw = new TextEncoder().encode(password);
  const sealed = sealOnHost(priv, bind('secret-vault'), master.key, master.id);
  const outputs: Uint8Array[] = [sealed];
  const digest = createHash('sha256').update('m').digest();

  const s = await vault.sign(sealed, bind('secret-vault'), digest);
  const r = await vault.refresh(sealed, bind('secret-vault'));
  const env = await vault.export(r.sealed, bind('secret-vault'), password);
  const imp = await vault.import(env, password, bind('secret-vault-2'));
  const g = await vault.generate(bind('another'));
  outputs.push(s.signature, r.sealed, r.publicKey, env, imp.sealed, imp.publicKey, g.sealed, g.publicKey);

  const messages: string[] = [];
  // Settled together: the spin and the failing sign may fail while the import (Argon2id) still runs.
  const settled = await Promise.allSettled([vault.import(env, password + 'x', bind('v')), spinVault.sign(sealed, bind('other-vault'), digest), spinVault.call('t_spin', [])]);
  for (const r of settled) {
    if (r.status === 'rejected') messages.push(r.reason instanceof HwayError ? `${r.reason.code} ${r.reason.message}` : String(r.reason));
  }
  expect(messages).toHaveLength(3);
  expect(spinning.stats().restarts).toBeGreaterThanOrEqual(1); // the spin made the pool log a replacement

  for (const out of outputs) {
    expect(leaks(out, priv)).toBe(false);
    expect(leaks(out, pw)).toBe(false);
    expect(leaks(out, master.key)).toBe(false);
  }
  const text = [...messages, ...logs].join('\n');
  expect(logs.length).toBeGreaterThan(0);
  for (const secret of [hex(priv), password, hex(master.key), Buffer.from(master.key).toString('base64')]) {
    expect(text).not.toContain(secret);
  }
});

test('nonces and salts never repeat', async () => {
  const nonces = new Set<string>();
  const jobs = Array.from({ length: 2000 }, (_, i) => vault.generate(bind(`n-${i}`)));
  for (const g of await Promise.all(jobs)) nonces.add(hex(g.sealed.subarray(25, 49)));
  expect(nonces.size).toBe(2000);
  const g = await vault.generate(bind('salted'));
  const salts = new Set<string>();
  for (let i = 0; i < 4; i++) {
    // Each export runs Argon2id at 256 MiB; v2 envelope: salt at 11–27, nonce at 27–51 (ABI.md).
    const env = await enclave.exportKey(g.sealed, bind('salted'), 'same password');
    salts.add(hex(env.subarray(11, 27)) + hex(env.subarray(27, 51)));
  }
  expect(salts.size).toBe(4);
});
