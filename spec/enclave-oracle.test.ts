// The primitives written for the enclave against node:crypto on random inputs (the Wycheproof suite
// covers the edge cases; this covers the lengths and values nobody wrote a vector for).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash, pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import type { Enclave } from '../enclaves/enclave.js';
import { chachaPolySeal, hkdf, hmac, xchachaPolySeal } from './helpers/oracle.js';
import { hex, openEnclave } from './helpers/enclave.js';

let t: Enclave;
beforeAll(async () => {
  t = await openEnclave({ plugin: 'vault-test.wasm' });
});
afterAll(async () => t?.close());

const rand = (max: number): Uint8Array => Uint8Array.from(randomBytes(Math.floor(Math.random() * (max + 1))));
const u16 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, n >>> 8);
const u32 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

test('SHA-256 on 600 random lengths, every block boundary included', async () => {
  for (let len = 0; len < 600; len++) {
    const m = randomBytes(len);
    const [d] = await t.raw('t_sha256', [m]);
    expect(hex(d!)).toBe(createHash('sha256').update(m).digest('hex'));
  }
});

test('HMAC-SHA256 and HKDF-SHA256 on 500 random inputs', async () => {
  for (let i = 0; i < 500; i++) {
    const [key, msg] = [rand(200), rand(1000)];
    expect(hex((await t.raw('t_hmac_sha256', [key, msg]))[0]!)).toBe(hex(hmac(key, msg)));
    const [ikm, salt, info] = [rand(100), rand(100), rand(100)];
    const len = 1 + Math.floor(Math.random() * 255 * 32);
    expect(hex((await t.raw('t_hkdf_sha256', [ikm, salt, info, u16(len)]))[0]!)).toBe(hex(hkdf(ikm, salt, info, len)));
  }
});

test('ChaCha20-Poly1305 and XChaCha20-Poly1305 on 500 random inputs, tampering refused', async () => {
  for (let i = 0; i < 500; i++) {
    const key = randomBytes(32);
    const [aad, pt] = [rand(64), rand(700)];
    const n12 = randomBytes(12);
    const n24 = randomBytes(24);
    const [c1] = await t.raw('t_chacha20poly1305_seal', [key, n12, aad, pt]);
    expect(hex(c1!)).toBe(hex(chachaPolySeal(key, n12, aad, pt)));
    const [c2] = await t.raw('t_xchacha20poly1305_seal', [key, n24, aad, pt]);
    expect(hex(c2!)).toBe(hex(xchachaPolySeal(key, n24, aad, pt)));
    const [back] = await t.raw('t_xchacha20poly1305_open', [key, n24, aad, c2!]);
    expect(hex(back!)).toBe(hex(pt));
    const bad = Uint8Array.from(c2!);
    bad[Math.floor(Math.random() * bad.length)]! ^= 1 << Math.floor(Math.random() * 8);
    await expect(t.raw('t_xchacha20poly1305_open', [key, n24, aad, bad])).rejects.toMatchObject({ code: 'E_CORRUPT' });
  }
});

test('PBKDF2-HMAC-SHA256 and scrypt on random parameters', async () => {
  for (let i = 0; i < 50; i++) {
    const [pw, salt] = [rand(40), rand(40)];
    const iters = 1 + Math.floor(Math.random() * 50);
    const len = 1 + Math.floor(Math.random() * 100);
    expect(hex((await t.raw('t_pbkdf2_sha256', [pw, salt, u32(iters), u16(len)]))[0]!)).toBe(hex(pbkdf2Sync(pw, salt, iters, len, 'sha256')));
  }
  for (let i = 0; i < 20; i++) {
    const [pw, salt] = [rand(40), rand(40)];
    const logN = 1 + Math.floor(Math.random() * 10);
    const r = 1 + Math.floor(Math.random() * 8);
    const p = 1 + Math.floor(Math.random() * 2);
    const len = 1 + Math.floor(Math.random() * 64);
    const [dk] = await t.raw('t_scrypt', [pw, salt, Uint8Array.of(logN), Uint8Array.of(r), Uint8Array.of(p), u16(len)]);
    expect(hex(dk!)).toBe(hex(scryptSync(pw, salt, len, { N: 2 ** logN, r, p })));
  }
  // The parameters exports use, once.
  const [dk] = await t.raw('t_scrypt', [Buffer.from('pw'), Buffer.alloc(16, 7), Uint8Array.of(15), Uint8Array.of(8), Uint8Array.of(1), u16(64)]);
  expect(hex(dk!)).toBe(hex(scryptSync('pw', Buffer.alloc(16, 7), 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })));
});
