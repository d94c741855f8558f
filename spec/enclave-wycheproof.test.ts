// Wycheproof vectors (../shared/testvectors/wycheproof) through the enclave: ECDSA secp256k1 through
// the production `verify`, and the primitives written for the enclave (ChaCha20-Poly1305,
// XChaCha20-Poly1305, HKDF, HMAC, PBKDF2) through the test build's t_* exports.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Enclave } from '../enclaves/enclave.js';
import { isHwayError } from '../errors.js';
import { openEnclave, unhex } from './helpers/enclave.js';

const DIR = fileURLToPath(new URL('../../shared/testvectors/wycheproof/', import.meta.url));

interface Vector {
  tcId: number;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
  [k: string]: unknown;
}
interface Group {
  tests: Vector[];
  [k: string]: unknown;
}

function load(file: string): Group[] {
  return (JSON.parse(readFileSync(DIR + file, 'utf8')) as { testGroups: Group[] }).testGroups;
}

const u16 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, n >>> 8);
const u32 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

class Tally {
  passed = 0;
  acceptable = 0;
  skipped = 0;
  failures: string[] = [];
  check(v: Vector, ok: boolean): void {
    if (v.result === 'acceptable') this.acceptable++;
    else if (ok === (v.result === 'valid')) this.passed++;
    else this.failures.push(`tcId ${v.tcId} (${v.result}) ${String(v.comment ?? '')}`);
  }
}

const counts: Record<string, Tally> = {};
let prod: Enclave;
let testBuild: Enclave;

beforeAll(async () => {
  prod = await openEnclave();
  testBuild = await openEnclave({ plugin: 'vault-test.wasm' });
});

afterAll(async () => {
  await prod?.close();
  await testBuild?.close();
  const rows = Object.entries(counts).map(([name, t]) => `${name.padEnd(28)} passed ${String(t.passed).padStart(4)}  acceptable ${t.acceptable}  skipped ${t.skipped}  failed ${t.failures.length}`);
  console.log(`Wycheproof\n${rows.join('\n')}`);
});

/** An enclave call that reports "rejected" for an error status instead of throwing. */
async function attempt<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isHwayError(err) && (err.code === 'E_BAD_INPUT' || err.code === 'E_CORRUPT')) return null;
    throw err;
  }
}

describe('ECDSA secp256k1 SHA-256 through verify', () => {
  test.each([
    ['ecdsa_secp256k1_sha256_p1363_test.json', { allowHighS: true, der: false }],
    ['ecdsa_secp256k1_sha256_bitcoin_test.json', { allowHighS: false, der: true }],
  ] as const)('%s', async (file, opts) => {
    const t = (counts[file.replace('_test.json', '')] = new Tally());
    for (const g of load(file)) {
      const key = unhex((g.publicKey as { uncompressed: string }).uncompressed);
      for (const v of g.tests) {
        const digest = createHash('sha256').update(unhex(v.msg as string)).digest();
        t.check(v, await prod.verify(key, digest, unhex(v.sig as string), opts));
      }
    }
    expect(t.failures).toEqual([]);
    expect(t.passed).toBeGreaterThan(200);
  });
});

describe('AEAD', () => {
  test.each([
    ['chacha20_poly1305', 't_chacha20poly1305', 12],
    ['xchacha20_poly1305', 't_xchacha20poly1305', 24],
  ] as const)('%s', async (name, fn, ivBytes) => {
    const t = (counts[name] = new Tally());
    for (const g of load(`${name}_test.json`)) {
      for (const v of g.tests) {
        const [key, iv, aad, msg, ct, tag] = ['key', 'iv', 'aad', 'msg', 'ct', 'tag'].map((k) => unhex(v[k] as string)) as Uint8Array[];
        if (iv!.length !== ivBytes || key!.length !== 32) {
          // Wrong nonce sizes are not applicable to the construction: the enclave must refuse them.
          const r = await attempt(testBuild.raw(`${fn}_open`, [key!, iv!, aad!, Buffer.concat([ct!, tag!])]));
          expect(r).toBeNull();
          t.check(v, false);
          continue;
        }
        const opened = await attempt(testBuild.raw(`${fn}_open`, [key!, iv!, aad!, Buffer.concat([ct!, tag!])]));
        const ok = opened !== null && Buffer.from(opened[0]!).equals(Buffer.from(msg!));
        if (v.result === 'valid') {
          const [sealed] = await testBuild.raw(`${fn}_seal`, [key!, iv!, aad!, msg!]);
          expect(Buffer.from(sealed!).toString('hex')).toBe(Buffer.concat([ct!, tag!]).toString('hex'));
        }
        t.check(v, ok);
      }
    }
    expect(t.failures).toEqual([]);
    expect(t.passed).toBeGreaterThan(300);
  });
});

test('HKDF-SHA256', async () => {
  const t = (counts.hkdf_sha256 = new Tally());
  for (const g of load('hkdf_sha256_test.json')) {
    for (const v of g.tests) {
      const size = Number(v.size);
      const r = size > 0xffff ? null : await attempt(testBuild.raw('t_hkdf_sha256', [unhex(v.ikm as string), unhex(v.salt as string), unhex(v.info as string), u16(size)]));
      t.check(v, r !== null && Buffer.from(r[0]!).toString('hex') === v.okm);
    }
  }
  expect(t.failures).toEqual([]);
  expect(t.passed).toBeGreaterThan(80);
});

test('HMAC-SHA256', async () => {
  const t = (counts.hmac_sha256 = new Tally());
  for (const g of load('hmac_sha256_test.json')) {
    const tagBytes = (g.tagSize as number) / 8;
    for (const v of g.tests) {
      const [mac] = await testBuild.raw('t_hmac_sha256', [unhex(v.key as string), unhex(v.msg as string)]);
      t.check(v, Buffer.from(mac!).subarray(0, tagBytes).toString('hex') === v.tag);
    }
  }
  expect(t.failures).toEqual([]);
  expect(t.passed).toBeGreaterThan(170);
});

test('PBKDF2-HMAC-SHA256', async () => {
  const t = (counts.pbkdf2_hmacsha256 = new Tally());
  for (const g of load('pbkdf2_hmacsha256_test.json')) {
    for (const v of g.tests) {
      const r = await attempt(
        testBuild.raw('t_pbkdf2_sha256', [unhex(v.password as string), unhex(v.salt as string), u32(Number(v.iterationCount)), u16(Number(v.dkLen))]),
      );
      t.check(v, r !== null && Buffer.from(r[0]!).toString('hex') === v.dk);
    }
  }
  expect(t.failures).toEqual([]);
  expect(t.passed).toBeGreaterThan(50);
});
