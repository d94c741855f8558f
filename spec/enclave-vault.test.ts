// A vault's enclave operations end to end, and every refusal: refresh keeps the key, export → import,
// wrong password, flipped bits, another vault's sealed data, retired master keys.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { readU32le } from '../enclaves/frame.js';
import { envelopeOnHost, openOnHost } from './helpers/oracle.js';
import { bind, hex, masterKey, openEnclave, testRing } from './helpers/enclave.js';
import { errorCode } from './helpers/errors.js';

const k1 = masterKey(1);
const k2 = masterKey(2);
let enclave: Enclave; // keys 1 and 2, current 2
let old: Enclave; // key 1 only
let vault: VaultEnclave;
const digest = createHash('sha256').update('hello vault').digest();

beforeAll(async () => {
  enclave = await openEnclave({ masterKeys: testRing(k1, k2) });
  old = await openEnclave({ masterKeys: testRing(k1) });
  vault = await enclave.vault();
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
  await old?.close();
});


function flip(b: Uint8Array, at: number): Uint8Array {
  const c = Uint8Array.from(b);
  c[at]! ^= 0x01;
  return c;
}

describe('generate, sign, verify, refresh', () => {
  test('round trip, deterministic low-S signatures, refresh keeps the key and bumps the epoch', async () => {
    const g = await vault.generate(bind('alice'));
    expect(g.sealed).toHaveLength(97); // sealed data v2, bound to vault id and account
    expect(g.sealed[0]).toBe(2);
    expect([2, 3]).toContain(g.publicKey[0]);
    expect(readU32le(g.sealed.subarray(1, 5))).toBe(2); // sealed under the current key
    const s1 = await vault.sign(g.sealed, bind('alice'), digest);
    const s2 = await vault.sign(g.sealed, bind('alice'), digest);
    expect(hex(s1.signature)).toBe(hex(s2.signature)); // RFC 6979
    expect(await enclave.verify(g.publicKey, digest, s1.signature)).toBe(true);

    const r = await vault.refresh(g.sealed, bind('alice'));
    expect(hex(r.publicKey)).toBe(hex(g.publicKey));
    expect(r.epoch).toBe(1);
    expect(hex(r.sealed.subarray(25, 49))).not.toBe(hex(g.sealed.subarray(25, 49))); // fresh nonce
    const r2 = await vault.refresh(r.sealed, bind('alice'));
    expect(r2.epoch).toBe(2);
    const s3 = await vault.sign(r2.sealed, bind('alice'), digest);
    expect(hex(s3.signature)).toBe(hex(s1.signature)); // same key after refresh
  });

  test('two generated vaults have different keys', async () => {
    const a = await vault.generate(bind('v1'));
    const b = await vault.generate(bind('v1'));
    expect(hex(a.publicKey)).not.toBe(hex(b.publicKey));
  });

  test('flipped bits anywhere in sealed data are refused', async () => {
    const g = await vault.generate(bind('bob'));
    for (let at = 0; at < g.sealed.length; at++) {
      const c = await errorCode(vault.sign(flip(g.sealed, at), bind('bob'), digest));
      // The version byte and key id are checked first, then the account check (bytes 9-24); everything
      // else fails authentication.
      const want = at >= 1 && at <= 4 ? 'E_KEY_RETIRED' : at >= 9 && at <= 24 ? 'E_FORBIDDEN' : 'E_CORRUPT';
      expect([at, c]).toEqual([at, want]);
    }
  });

  test("vault A's sealed data presented as vault B is refused", async () => {
    const a = await vault.generate(bind('vault-a'));
    expect(await errorCode(vault.sign(a.sealed, bind('vault-b'), digest))).toBe('E_CORRUPT');
    expect(await errorCode(vault.refresh(a.sealed, bind('vault-b')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.exportKey(a.sealed, bind('vault-b'), 'a long enough password'))).toBe('E_CORRUPT');
  });

  test('rotation: data under key 1 refreshes to key 2; an enclave without key 2 refuses it as retired', async () => {
    const vOld = await old.vault();
    const g = await vOld.generate(bind('carol'));
    expect(readU32le(g.sealed.subarray(1, 5))).toBe(1);
    const r = await vault.refresh(g.sealed, bind('carol'));
    expect(readU32le(r.sealed.subarray(1, 5))).toBe(2);
    expect(hex(r.publicKey)).toBe(hex(g.publicKey));
    expect(await errorCode(vOld.sign(r.sealed, bind('carol'), digest))).toBe('E_KEY_RETIRED');
    expect(await errorCode(vOld.refresh(r.sealed, bind('carol')))).toBe('E_KEY_RETIRED');
    await vOld.close();
  });

  test('without master keys, only verify and info work', async () => {
    const bare = await openEnclave();
    try {
      expect((await bare.info()).currentKeyId).toBeNull();
      const v = await bare.vault();
      expect(await errorCode(v.generate(bind('x')))).toBe('E_ENCLAVE');
      await v.close();
    } finally {
      await bare.close();
    }
  });
});

describe('export and import', () => {
  test('export → import restores the same key under another vault id', async () => {
    // Envelope v2 (Argon2id); spec/export-v2.test.ts opens it on the host and covers its header.
    const g = await vault.generate(bind('dave'));
    const env = await enclave.exportKey(g.sealed, bind('dave'), 'correct horse');
    expect(env).toHaveLength(117 + 4);
    expect([...env.subarray(0, 11)]).toEqual([2, 2, 0, 0, 4, 0, 3, 0, 0, 0, 1]); // Argon2id m=256 MiB t=3 p=1
    const again = await enclave.exportKey(g.sealed, bind('dave'), 'correct horse');
    expect(hex(again.subarray(11, 51))).not.toBe(hex(env.subarray(11, 51))); // fresh salt and nonce

    const imported = await enclave.importKey(env, 'correct horse', bind('dave-restored'));
    expect(hex(imported.publicKey)).toBe(hex(g.publicKey));
    expect(imported.sourceVaultId).toBe('dave');
    const s = await vault.sign(imported.sealed, bind('dave-restored'), digest);
    expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
    expect(readU32le(imported.sealed.subarray(5, 9))).toBe(0);
  });

  test('a v1 envelope (scrypt) built by node:crypto still imports (format agreement)', async () => {
    const priv = Uint8Array.from(createHash('sha256').update('known key').digest());
    const env = envelopeOnHost(priv, 'pw-node', 15, 8);
    const imported = await enclave.importKey(env, 'pw-node', bind('erin'));
    expect(hex(openOnHost(imported.sealed, bind('erin'), k2.key)!)).toBe(hex(priv));
  });

  test('wrong password, tampered envelope, hostile KDF parameters', async () => {
    const g = await vault.generate(bind('frank'));
    const env = await enclave.exportKey(g.sealed, bind('frank'), 'password one'); // v2: 117 + 5 bytes
    expect(await errorCode(enclave.importKey(env, 'password two', bind('frank')))).toBe('E_WRONG_PASSWORD');
    // Each of these runs Argon2id at 256 MiB; spec/export-v2.test.ts flips every field with small parameters.
    expect(await errorCode(enclave.importKey(flip(env, 80), 'password one', bind('frank')))).toBe('E_CORRUPT'); // ciphertext
    expect(await errorCode(enclave.importKey(flip(env, 0), 'password one', bind('frank')))).toBe('E_CORRUPT'); // version
    const hostile = Uint8Array.from(env);
    hostile[5] = 0x01; // m = 16 GiB + 256 MiB
    expect(await errorCode(enclave.importKey(hostile, 'password one', bind('frank')))).toBe('E_CORRUPT');
    const v1 = envelopeOnHost(new Uint8Array(32).fill(7), 'pw-1');
    v1[2] = 30; // v1, N = 2^30 would need 128 GiB
    expect(await errorCode(enclave.importKey(v1, 'pw-1', bind('frank')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(env.subarray(0, 100), 'password one', bind('frank')))).toBe('E_BAD_INPUT');
    expect(await errorCode(enclave.exportKey(g.sealed, bind('frank'), ''))).toBe('E_WEAK_PASSWORD');
    expect(await errorCode(enclave.exportKey(g.sealed, bind('frank'), 'pw-1'))).toBe('E_WEAK_PASSWORD');
  });

  test('an invalid private key in a well-formed envelope is refused', async () => {
    const zero = envelopeOnHost(new Uint8Array(32), 'pw', 15, 8);
    expect(await errorCode(enclave.importKey(zero, 'pw', bind('gina')))).toBe('E_INVALID_KEY');
    const n = Uint8Array.from(Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex'));
    expect(await errorCode(enclave.importKey(envelopeOnHost(n, 'pw', 15, 8), 'pw', bind('gina')))).toBe('E_INVALID_KEY');
  });
});

describe('input validation on the host', () => {
  test('bad sizes and vault ids are E_BAD_INPUT before reaching the enclave', async () => {
    const g = await vault.generate(bind('henry'));
    expect(await errorCode(vault.sign(g.sealed, bind('henry'), new Uint8Array(31)))).toBe('E_BAD_INPUT');
    expect(await errorCode(vault.sign(g.sealed.subarray(1), bind('henry'), digest))).toBe('E_BAD_INPUT');
    expect(await errorCode(vault.generate(bind('')))).toBe('E_BAD_INPUT');
    expect(await errorCode(vault.generate(bind('x'.repeat(257))))).toBe('E_BAD_INPUT');
    expect(await errorCode(vault.generate(bind('henry', '')))).toBe('E_BAD_INPUT');
    expect(await errorCode(vault.sign(g.sealed, bind('henry', 'a'.repeat(257)), digest))).toBe('E_BAD_INPUT');
    expect(await errorCode(enclave.verify(g.publicKey, new Uint8Array(33), new Uint8Array(64)))).toBe('E_BAD_INPUT');
    // Malformed keys and signatures are "invalid", not errors.
    expect(await enclave.verify(new Uint8Array(33), digest, new Uint8Array(64))).toBe(false);
    expect(await enclave.verify(g.publicKey, digest, new Uint8Array(10))).toBe(false);
  });
});
