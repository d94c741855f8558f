// Argon2id in the enclave (the reference C sources of the `argon2` npm package, built without threads)
// against RFC 9106's test vector and against @noble/hashes on random small inputs, through the test
// build's t_argon2id export.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { argon2id } from '@noble/hashes/argon2.js';
import { randomBytes, randomInt } from 'node:crypto';
import type { Enclave } from '../enclaves/enclave.js';
import { hex, openEnclave } from './helpers/enclave.js';
import { errorCode } from './helpers/errors.js';

let t: Enclave;
beforeAll(async () => {
  t = await openEnclave({ plugin: 'vault-test.wasm', workers: 1 });
});
afterAll(async () => t?.close());

const u16 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, n >>> 8);
const u32 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

interface Params {
  password: Uint8Array;
  salt: Uint8Array;
  secret: Uint8Array;
  ad: Uint8Array;
  t: number;
  m: number;
  p: number;
  len: number;
}

async function enclaveArgon2id(a: Params): Promise<Uint8Array> {
  const [tag] = await t.raw('t_argon2id', [a.password, a.salt, a.secret, a.ad, u32(a.t), u32(a.m), Uint8Array.of(a.p), u16(a.len)]);
  return tag!;
}

describe('RFC 9106', () => {
  test('section 5.3, Argon2id: p = 4 lanes, filled one after the other', async () => {
    const tag = await enclaveArgon2id({
      password: new Uint8Array(32).fill(0x01),
      salt: new Uint8Array(16).fill(0x02),
      secret: new Uint8Array(8).fill(0x03),
      ad: new Uint8Array(12).fill(0x04),
      t: 3,
      m: 32,
      p: 4,
      len: 32,
    });
    expect(hex(tag)).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
  });
});

describe('against @noble/hashes', () => {
  test('40 random small inputs: lengths, secret and associated data, t, m and p', async () => {
    for (let i = 0; i < 40; i++) {
      const p = 1 + randomInt(4);
      const a: Params = {
        password: Uint8Array.from(randomBytes(randomInt(65))),
        salt: Uint8Array.from(randomBytes(8 + randomInt(25))),
        secret: Uint8Array.from(randomBytes(randomInt(3) === 0 ? 0 : randomInt(33))),
        ad: Uint8Array.from(randomBytes(randomInt(3) === 0 ? 0 : randomInt(33))),
        t: 1 + randomInt(3),
        // From the minimum 8p KiB up to 256 KiB; not always a multiple of 4p (the work area rounds down).
        m: 8 * p + randomInt(257 - 8 * p),
        p,
        len: 4 + randomInt(125),
      };
      const want = argon2id(a.password, a.salt, { t: a.t, m: a.m, p: a.p, dkLen: a.len, key: a.secret, personalization: a.ad });
      // The parameters ride along so that a mismatch prints them.
      const params = { ...a, password: hex(a.password), salt: hex(a.salt), secret: hex(a.secret), ad: hex(a.ad) };
      expect({ params, tag: hex(await enclaveArgon2id(a)) }).toEqual({ params, tag: hex(want) });
    }
  });

  test('a 1 MiB work area (t = 1) and a long output agree too', async () => {
    const a: Params = { password: Uint8Array.from(randomBytes(20)), salt: Uint8Array.from(randomBytes(16)), secret: new Uint8Array(0), ad: new Uint8Array(0), t: 1, m: 1024, p: 1, len: 1000 };
    expect(hex(await enclaveArgon2id(a))).toBe(hex(argon2id(a.password, a.salt, { t: 1, m: 1024, p: 1, dkLen: 1000 })));
  });
});

describe('parameters out of range are E_BAD_INPUT', () => {
  const ok: Params = { password: new Uint8Array(8), salt: new Uint8Array(16), secret: new Uint8Array(0), ad: new Uint8Array(0), t: 1, m: 8, p: 1, len: 32 };
  test.each([
    ['salt shorter than 8 bytes', { salt: new Uint8Array(7) }],
    ['t = 0', { t: 0 }],
    ['p = 0', { p: 0 }],
    ['m < 8p', { m: 15, p: 2 }],
    ['output shorter than 4 bytes', { len: 3 }],
    ['m above the test export bound (16 MiB)', { m: 16 * 1024 + 1 }],
  ] as [string, Partial<Params>][])('%s', async (_name, change) => {
    expect(await errorCode(enclaveArgon2id({ ...ok, ...change }))).toBe('E_BAD_INPUT');
  });
});
