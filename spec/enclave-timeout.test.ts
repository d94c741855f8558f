// A spinning enclave call is really stopped at the timeout (E_TIMEOUT), the calls queued behind it
// still complete, and the next call works; a trap is an error, not a dead instance.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { HwayError } from '../errors.js';
import { bind, masterKey, openEnclave, testRing } from './helpers/enclave.js';

const TIMEOUT = 400;
let enclave: Enclave;
let vault: VaultEnclave;
const digest = createHash('sha256').update('x').digest();

beforeAll(async () => {
  // One worker, so the spinning call and the innocent ones share it.
  enclave = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(masterKey(1)), workers: 1, timeoutMs: TIMEOUT });
  vault = await enclave.vault();
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
});

test('a spinning call is cut at the timeout and the pool recovers', async () => {
  const g = await vault.generate(bind('spin'));
  const other = await enclave.vault();
  const started = Date.now();
  const spin = vault.call('t_spin', []).then(
    () => 'returned',
    (e: unknown) => (e instanceof HwayError ? e.code : String(e)),
  );
  // Calls queued on the same worker behind the stuck one.
  const behind = Array.from({ length: 5 }, () => other.sign(g.sealed, bind('spin'), digest));
  expect(await spin).toBe('E_TIMEOUT');
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT - 5);
  const sigs = await Promise.all(behind);
  for (const s of sigs) expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
  expect(enclave.stats().restarts).toBe(1);
  // The instance that spun works again (re-created in the new worker).
  const again = await vault.sign(g.sealed, bind('spin'), digest);
  expect(Buffer.from(again.signature).equals(Buffer.from(sigs[0]!.signature))).toBe(true);
  console.log(`spinning call stopped after ${elapsed} ms (timeout ${TIMEOUT} ms)`);
  await other.close();
});

test('a trap is E_ENCLAVE and the instance is replaced', async () => {
  const g = await vault.generate(bind('trap'));
  await expect(vault.call('t_trap', [])).rejects.toMatchObject({ code: 'E_ENCLAVE' });
  const s = await vault.sign(g.sealed, bind('trap'), digest);
  expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
});

test('an unknown export is E_BAD_INPUT', async () => {
  await expect(vault.call('no_such_export', [])).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
});

test('a closed pool answers E_CLOSED', async () => {
  const e = await openEnclave({ workers: 1 });
  const v = await e.vault();
  await e.close();
  await expect(v.generate(bind('x'))).rejects.toMatchObject({ code: 'E_CLOSED' });
});

test("the deadline counts each call's own execution, not the wait behind other calls", async () => {
  // One worker and one batch of 8,000 signs: the batch as a whole runs far longer than the 400 ms
  // timeout (each sign takes ~0.1 ms, so ~1 s in all), and the calls at its end waited all that
  // time. None of them may time out: only a call that itself executes for the whole timeout is stuck.
  const e = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(masterKey(1)), workers: 1, timeoutMs: TIMEOUT, maxBatch: 100_000 });
  try {
    const v = await e.vault();
    const g = await v.generate(bind('batch'));
    const started = Date.now();
    const sigs = await Promise.all(Array.from({ length: 8000 }, () => v.sign(g.sealed, bind('batch'), digest)));
    const elapsed = Date.now() - started;
    expect(sigs).toHaveLength(8000);
    expect(e.stats().restarts).toBe(0);
    console.log(`8,000 queued signs took ${elapsed} ms in all with a ${TIMEOUT} ms per-call timeout`);
  } finally {
    await e.close();
  }
});
