// Export envelope v2 (enclaves/vault/ABI.md): Argon2id at m = 256 MiB, t = 3, p = 1; the version and
// the exporting vault's id in the authenticated header; v1 (scrypt) envelopes still import; parameters
// over the stated bounds refused before anything is allocated; short export passwords refused; the KDF
// on its own large-cap instances while vault instances keep their 64 MiB.
//
// The writer and the reader are checked against ABI.md on the host (@noble/hashes' Argon2id and
// node:crypto's ChaCha20-Poly1305) with small Argon2id parameters: the test build's t_envelope_v2
// writes through export's own code with those, and the host builds envelopes for import. No test
// here depends on time: the enclaves' timeouts are hang-only (helpers/enclave.ts).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { argon2id } from '@noble/hashes/argon2.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { readU32le } from '../enclaves/frame.js';
import { bind, hex, masterKey, openEnclave, TEST_ACCOUNT, testRing, unhex } from './helpers/enclave.js';
import { pollUntil } from './helpers/deadlines.js';
import { errorCode } from './helpers/errors.js';
import { envelopeOnHost, envelopeV2OnHost, hmac, openOnHost, sealOnHost, xchachaPolyOpen } from './helpers/oracle.js';

const k1 = masterKey(1);
let enclave: Enclave; // production plugins (vault.wasm for vault instances, vault-kdf.wasm for export/import)
let testBuild: Enclave; // vault-test.wasm and vault-test-kdf.wasm, same master key
let vault: VaultEnclave; // a vault instance of the production plugin: 64 MiB cap

beforeAll(async () => {
  enclave = await openEnclave({ masterKeys: testRing(k1) });
  testBuild = await openEnclave({ plugin: 'vault-test.wasm', masterKeys: testRing(k1), workers: 1 });
  vault = await enclave.vault();
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
  await testBuild?.close();
});

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const u32 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
const CHECK_V2 = utf8('hway/export/check/v2');

/** The fields of a v2 envelope, by ABI.md's table. */
function parseV2(env: Uint8Array) {
  const view = new DataView(env.buffer, env.byteOffset, env.byteLength);
  const L = view.getUint16(67, true);
  return {
    version: env[0],
    kdf: env[1],
    m: view.getUint32(2, true),
    t: view.getUint32(6, true),
    p: env[10],
    salt: env.subarray(11, 27),
    nonce: env.subarray(27, 51),
    check: env.subarray(51, 67),
    vaultId: new TextDecoder().decode(env.subarray(69, 69 + L)),
    header: env.subarray(0, 69 + L),
    sealed: env.subarray(69 + L),
    length: env.length,
    L,
  };
}

/** Opens a v2 envelope on the host (small parameters only: @noble/hashes runs in JavaScript). */
function openV2OnHost(env: Uint8Array, password: string): { key: Uint8Array | null; checkOk: boolean } {
  const e = parseV2(env);
  const km = argon2id(utf8(password), e.salt, { t: e.t, m: e.m, p: e.p!, dkLen: 64 });
  const checkOk = hex(hmac(km.subarray(32), CHECK_V2).subarray(0, 16)) === hex(e.check);
  return { key: xchachaPolyOpen(km.subarray(0, 32), e.nonce, e.header, e.sealed), checkOk };
}

/** A v2 envelope written by the enclave's export code with small parameters (test build). */
async function smallV2(privateKey: Uint8Array, vaultId: string, password: string, m = 32, t = 1): Promise<Uint8Array> {
  const [env] = await testBuild.raw('t_envelope_v2', [privateKey, utf8(vaultId), utf8(password), u32(m), u32(t)]);
  return env!;
}

function withField(env: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
  const c = Uint8Array.from(env);
  c.set(bytes, at);
  return c;
}

const randomKey = (): Uint8Array => Uint8Array.from(randomBytes(32)); // < n with overwhelming probability

describe('v2 at the defaults', () => {
  test('export → import: Argon2id m = 256 MiB, t = 3, p = 1, the vault id in the header; same key under another id', async () => {
    const g = await vault.generate(bind('alice-v2'));
    const password = 'twelve chars'; // exactly the minimum
    const env = await enclave.exportKey(g.sealed, bind('alice-v2'), password);
    const e = parseV2(env);
    expect({ version: e.version, kdf: e.kdf, m: e.m, t: e.t, p: e.p, L: e.L, vaultId: e.vaultId, length: e.length }).toEqual({
      version: 2,
      kdf: 2,
      m: 256 * 1024,
      t: 3,
      p: 1,
      L: 8,
      vaultId: 'alice-v2',
      length: 117 + 8,
    });

    const restored = await enclave.importKey(env, password, bind('alice-copy'));
    expect(hex(restored.publicKey)).toBe(hex(g.publicKey));
    expect(restored.sourceVaultId).toBe('alice-v2');
    expect(readU32le(restored.sealed.subarray(5, 9))).toBe(0); // epoch 0
    const digest = randomBytes(32);
    const [a, b] = [await vault.sign(g.sealed, bind('alice-v2'), digest), await vault.sign(restored.sealed, bind('alice-copy'), digest)];
    expect(hex(b.signature)).toBe(hex(a.signature));

    expect(await errorCode(enclave.importKey(env, 'twelve chars!', bind('alice-copy')))).toBe('E_WRONG_PASSWORD');
  });
});

describe('the format is ABI.md on both sides', () => {
  test("the enclave's writer: its envelope opens on the host to the private key, bound to the header", async () => {
    const sk = randomKey();
    const env = await smallV2(sk, 'writer-vault', 'a host can open this', 64, 2);
    const e = parseV2(env);
    expect([e.version, e.kdf, e.m, e.t, e.p, e.vaultId, e.length]).toEqual([2, 2, 64, 2, 1, 'writer-vault', 117 + 12]);
    const opened = openV2OnHost(env, 'a host can open this');
    expect(opened.checkOk).toBe(true);
    expect(hex(opened.key!)).toBe(hex(sk));
    // And the production import takes it: re-sealed under this node's key for the new vault id.
    const imported = await enclave.importKey(env, 'a host can open this', bind('writer-copy'));
    expect(hex(openOnHost(imported.sealed, bind('writer-copy'), k1.key)!)).toBe(hex(sk));
    expect(imported.sourceVaultId).toBe('writer-vault');
  });

  test("the enclave's reader: an envelope built on the host imports", async () => {
    const sk = randomKey();
    const env = envelopeV2OnHost(sk, 'built on the host', 'host-vault', { m: 40, t: 2 });
    const imported = await enclave.importKey(env, 'built on the host', bind('reader-copy'));
    expect(hex(openOnHost(imported.sealed, bind('reader-copy'), k1.key)!)).toBe(hex(sk));
    expect(imported.sourceVaultId).toBe('host-vault');
  });
});

describe('v1 envelopes still import', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/export-v1-envelope.json', import.meta.url), 'utf8')) as {
    short: { password: string; envelope: string };
    long: { password: string; envelope: string };
    privateKey: string;
    publicKey: string;
  };

  test('envelopes made by the enclave before v2 (scrypt), one with a 2-character password', async () => {
    for (const { password, envelope } of [fixture.short, fixture.long]) {
      const env = unhex(envelope);
      expect([env.length, env[0], env[1]]).toEqual([109, 1, 1]);
      const imported = await enclave.importKey(env, password, bind('legacy-copy'));
      expect(hex(imported.publicKey)).toBe(fixture.publicKey);
      expect(imported.sourceVaultId).toBeNull();
      expect(hex(openOnHost(imported.sealed, bind('legacy-copy'), k1.key)!)).toBe(fixture.privateKey);
    }
    expect(await errorCode(enclave.importKey(unhex(fixture.short.envelope), 'pW', bind('legacy-copy')))).toBe('E_WRONG_PASSWORD');
  });

  test('a v1 envelope built on the host (node:crypto scrypt) imports', async () => {
    const sk = randomKey();
    const imported = await enclave.importKey(envelopeOnHost(sk, 'old export', 15, 8), 'old export', bind('v1-host'));
    expect(hex(openOnHost(imported.sealed, bind('v1-host'), k1.key)!)).toBe(hex(sk));
  });
});

describe('the version and the vault id are authenticated', () => {
  const pw = 'bound to its header';
  let sk: Uint8Array;
  let env: Uint8Array;
  beforeAll(async () => {
    sk = randomKey();
    env = await smallV2(sk, 'alice', pw);
  });

  test('the untouched envelope imports (control); a changed ciphertext or tag does not', async () => {
    expect(hex(openOnHost((await enclave.importKey(env, pw, bind('control'))).sealed, bind('control'), k1.key)!)).toBe(hex(sk));
    expect(await errorCode(enclave.importKey(withField(env, 74 + 3, Uint8Array.of(env[77]! ^ 0x80)), pw, bind('control')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(withField(env, env.length - 1, Uint8Array.of(env.at(-1)! ^ 1)), pw, bind('control')))).toBe('E_CORRUPT');
  });

  test('another vault id of the same length: the password check passes, authentication fails', async () => {
    const swapped = withField(env, 69, utf8('mally'));
    expect(openV2OnHost(swapped, pw).checkOk).toBe(true); // the password is right…
    expect(openV2OnHost(swapped, pw).key).toBeNull(); // …but the header is not what was sealed
    expect(await errorCode(enclave.importKey(swapped, pw, bind('swapped')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(withField(env, 73, Uint8Array.of(env[73]! ^ 1)), pw, bind('swapped')))).toBe('E_CORRUPT');
  });

  test('another vault id of another length (length field adjusted): refused', async () => {
    const head = env.subarray(0, 67);
    const tail = env.subarray(69 + 5);
    const longer = Uint8Array.from(Buffer.concat([head, Uint8Array.of(7, 0), utf8('alice-2'), tail]));
    expect(await errorCode(enclave.importKey(longer, pw, bind('swapped')))).toBe('E_CORRUPT');
    // A length that disagrees with the envelope's size is malformed.
    expect(await errorCode(enclave.importKey(withField(env, 67, Uint8Array.of(6, 0)), pw, bind('swapped')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(withField(env, 67, Uint8Array.of(0, 0)), pw, bind('swapped')))).toBe('E_CORRUPT');
  });

  test('another version or KDF id: refused', async () => {
    for (const [at, value] of [[0, 1], [0, 3], [0, 0], [1, 1], [1, 3]] as const) {
      expect([at, value, await errorCode(enclave.importKey(withField(env, at, Uint8Array.of(value)), pw, bind('versioned')))]).toEqual([at, value, 'E_CORRUPT']);
    }
  });

  test('associated data without the vault id, or with another version byte: refused', async () => {
    const noVaultId = envelopeV2OnHost(sk, pw, 'alice', { aad: (h) => h.subarray(0, 67) });
    const v1InAd = envelopeV2OnHost(sk, pw, 'alice', { aad: (h) => Uint8Array.from([1, ...h.subarray(1)]) });
    const right = envelopeV2OnHost(sk, pw, 'alice');
    expect(await errorCode(enclave.importKey(noVaultId, pw, bind('ad')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(v1InAd, pw, bind('ad')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(right, pw, bind('ad')))).toBe('ok');
  });

  test('KDF parameters within the bounds but changed: another key, so the password check fails', async () => {
    expect(await errorCode(enclave.importKey(withField(env, 6, u32(2)), pw, bind('kdf')))).toBe('E_WRONG_PASSWORD'); // t
    expect(await errorCode(enclave.importKey(withField(env, 2, u32(64)), pw, bind('kdf')))).toBe('E_WRONG_PASSWORD'); // m
    expect(await errorCode(enclave.importKey(withField(env, 20, Uint8Array.of(env[20]! ^ 1)), pw, bind('kdf')))).toBe('E_WRONG_PASSWORD'); // salt
  });
});

describe('KDF parameters over the bounds are refused before anything is allocated', () => {
  // ABI.md: 8 <= m <= 1 GiB (in KiB), 1 <= t <= 10, m * t <= 2 GiB, p = 1.
  const GiB = 1024 * 1024;
  const cases: [string, number, Uint8Array][] = [
    ['m = 1 GiB + 1 KiB', 2, u32(GiB + 1)],
    ['m = 4 TiB - 1 KiB', 2, u32(0xffffffff)],
    ['m = 7 KiB', 2, u32(7)],
    ['t = 11', 6, u32(11)],
    ['t = 2^32 - 1', 6, u32(0xffffffff)],
    ['t = 0', 6, u32(0)],
    ['p = 2', 10, Uint8Array.of(2)],
    ['p = 0', 10, Uint8Array.of(0)],
  ];
  const pw = 'hostile parameters';
  let env: Uint8Array;
  beforeAll(async () => {
    env = await smallV2(randomKey(), 'bounded', pw);
  });

  test.each(cases)('%s: E_CORRUPT', async (_name, at, bytes) => {
    expect(await errorCode(enclave.importKey(withField(env, at, bytes), pw, bind('bounded-copy')))).toBe('E_CORRUPT');
  });

  test('m = 1 GiB with t = 3, m = 256 MiB with t = 9 (over the 2 GiB work bound; each alone is within): E_CORRUPT', async () => {
    expect(await errorCode(enclave.importKey(withField(withField(env, 2, u32(GiB)), 6, u32(3)), pw, bind('bounded-copy')))).toBe('E_CORRUPT');
    expect(await errorCode(enclave.importKey(withField(withField(env, 2, u32(GiB / 4)), 6, u32(9)), pw, bind('bounded-copy')))).toBe('E_CORRUPT');
  });

  test('on a 64 MiB vault instance too: the bounds answer before Argon2id tries to allocate', async () => {
    // A within-bounds 512 MiB work area does not fit a vault instance: its allocation fails (E_ENCLAVE,
    // "out of memory"). Over-bound ones answer E_CORRUPT there as well, so nothing was allocated.
    const fits = (e: Uint8Array) => vault.call('import', [e, utf8(pw), utf8('bounded-copy'), utf8(TEST_ACCOUNT)]);
    expect(await errorCode(fits(withField(env, 2, u32(512 * 1024))))).toBe('E_ENCLAVE');
    for (const [, at, bytes] of cases) expect(await errorCode(fits(withField(env, at, bytes)))).toBe('E_CORRUPT');
    expect(await errorCode(fits(withField(withField(env, 2, u32(GiB)), 6, u32(3))))).toBe('E_CORRUPT');
  });
});

describe('the test build', () => {
  test('exports normally (only its t_spin password never finishes) and imports into a production enclave', async () => {
    const sk = randomKey();
    const env = await testBuild.exportKey(sealOnHost(sk, bind('test-build'), k1.key, 1), bind('test-build'), 'an ordinary password');
    expect(parseV2(env).m).toBe(256 * 1024);
    expect(hex(openOnHost((await enclave.importKey(env, 'an ordinary password', bind('from-test-build'))).sealed, bind('from-test-build'), k1.key)!)).toBe(hex(sk));
  });
});

describe('memory: the KDF runs on its own instances', () => {
  test('an export reaching a 64 MiB vault instance fails to allocate and leaves it working', async () => {
    const g = await vault.generate(bind('capped'));
    expect(await errorCode(vault.call('export', [g.sealed, utf8('capped'), utf8(TEST_ACCOUNT), utf8('a strong password')]))).toBe('E_ENCLAVE');
    const digest = randomBytes(32);
    const s = await vault.sign(g.sealed, bind('capped'), digest);
    expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
  });

  test("an export's 256 MiB work area does not stay resident after it (its KDF worker is ended)", async () => {
    // Only the amount of memory is checked, never time: the wait for the RSS to come down is hang-only.
    // A worker that kept the last work area (what a closed instance does until V8 collects it) would
    // stay ~256 MiB above the level before the export. A fresh enclave, so that the level before its
    // first export holds no work area of its own.
    const fresh = await openEnclave({ masterKeys: testRing(k1), workers: 1 });
    try {
      const sealed = sealOnHost(randomKey(), bind('resident'), k1.key, 1);
      const before = process.memoryUsage().rss;
      for (let i = 1; i <= 3; i++) {
        await fresh.exportKey(sealed, bind('resident'), 'a long enough password');
        await pollUntil(() => process.memoryUsage().rss < before + 128 * 2 ** 20, `RSS back under ${Math.round(before / 2 ** 20)} + 128 MiB after export ${i}`, { intervalMs: 100 });
      }
    } finally {
      await fresh.close();
    }
  });
});

describe('export passwords have at least 12 characters', () => {
  test('the host API refuses shorter ones (E_WEAK_PASSWORD), counting characters, not bytes', async () => {
    const sealed = sealOnHost(randomKey(), bind('weak'), k1.key, 1);
    for (const pw of ['', 'pw', 'eleven char', 'üüüüüüüüüüü']) {
      expect([pw, await errorCode(enclave.exportKey(sealed, bind('weak'), pw))]).toEqual([pw, 'E_WEAK_PASSWORD']);
    }
  });

  test('the enclave refuses them itself (E_BAD_INPUT) when the host API is bypassed', async () => {
    const sealed = sealOnHost(randomKey(), bind('weak'), k1.key, 1);
    expect(await errorCode(enclave.rawOneShot('export', [sealed, utf8('weak'), utf8(TEST_ACCOUNT), utf8('eleven char')]))).toBe('E_BAD_INPUT');
  });

  test('imports take any password length (old exports may have short ones): see the v1 fixture above', async () => {
    const sk = randomKey();
    expect(await errorCode(enclave.importKey(envelopeOnHost(sk, 'pw', 15, 8), 'pw', bind('short-ok')))).toBe('ok');
  });
});
