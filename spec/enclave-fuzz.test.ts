// At least 100,000 random and mutated inputs per export of the production plugin. None may kill the
// host, hang, or leave the instance unusable; each is answered by ok or an error code.
//
// Export and import run the memory-hard KDF on any input that parses (Argon2id's 256 MiB does not even
// fit a vault instance's 64 MiB): their mutations are structural (framing, lengths, header fields,
// truncation), which the enclave must reject before the KDF, plus, for v1 envelopes (scrypt, 32 MiB),
// a small sample of well-framed inputs that do reach it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Enclave, VaultEnclave } from '../enclaves/enclave.js';
import { encodeFrame } from '../enclaves/frame.js';
import { HwayError, type ErrorCode } from '../errors.js';
import { bind, masterKey, openEnclave, TEST_ACCOUNT, testRing } from './helpers/enclave.js';
import { envelopeOnHost, envelopeV2OnHost } from './helpers/oracle.js';

const PER_EXPORT = 100_000;
const WAVE = 2_000;
let enclave: Enclave;
let vault: VaultEnclave;
let sealed: Uint8Array;
let envelope: Uint8Array; // v1 (scrypt N = 2^15)
let envelopeV2: Uint8Array; // v2 with small Argon2id parameters (m = 32 KiB, t = 1)
const PASSWORD = new TextEncoder().encode('fuzzing password');
const digest = randomBytes(32);

beforeAll(async () => {
  enclave = await openEnclave({ masterKeys: testRing(masterKey(1)), maxBatch: 256 });
  vault = await enclave.vault();
  sealed = (await vault.generate(bind('fuzz'))).sealed;
  envelope = envelopeOnHost(Uint8Array.from(randomBytes(32)), 'fuzzing password', 15, 8);
  envelopeV2 = envelopeV2OnHost(Uint8Array.from(randomBytes(32)), 'fuzzing password', 'fuzz', { m: 32, t: 1 });
});
afterAll(async () => {
  await vault?.close();
  await enclave?.close();
});

/** Deterministic PRNG so a failure can be replayed (the seed is printed). */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

/**
 * One raw frame: random bytes, a frame of random fields, a truncated or extended valid frame, or a
 * valid frame with 1–4 bytes changed at `positions` (every mutation really changes a byte).
 */
function mutate(r: Rand, valid: Uint8Array, fieldCount: number, positions: number[]): Uint8Array {
  for (;;) {
    const m = mutateOnce(r, valid, fieldCount, positions);
    // Two changes of one byte can cancel out: only inputs that really differ count.
    if (m.length !== valid.length || m.some((b, i) => b !== valid[i])) return m;
  }
}

function mutateOnce(r: Rand, valid: Uint8Array, fieldCount: number, positions: number[]): Uint8Array {
  const kind = int(r, 6);
  if (kind === 0) return Uint8Array.from(randomBytes(int(r, 300)));
  if (kind === 1) return encodeFrame(Array.from({ length: int(r, fieldCount + 2) }, () => Uint8Array.from(randomBytes(int(r, 120)))));
  if (kind === 2) return valid.subarray(0, int(r, valid.length));
  if (kind === 3) return Uint8Array.from([...valid, ...randomBytes(1 + int(r, 8))]);
  const c = Uint8Array.from(valid);
  const flips = 1 + int(r, 4);
  for (let i = 0; i < flips; i++) {
    const at = positions[int(r, positions.length)]!;
    c[at] = kind === 4 ? c[at]! ^ (1 << int(r, 8)) : (c[at]! + 1 + int(r, 255)) & 0xff;
  }
  return c;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

const ALLOWED = new Set<ErrorCode | 'ok'>(['ok', 'E_BAD_INPUT', 'E_CORRUPT', 'E_WRONG_PASSWORD', 'E_KEY_RETIRED', 'E_INVALID_KEY', 'E_FORBIDDEN']);

async function answer(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof HwayError) return err.code;
    return `threw ${String(err)}`;
  }
}

async function fuzz(name: string, fn: string, valid: Uint8Array, fieldCount: number, positions = range(0, valid.length)): Promise<void> {
  const seed = randomBytes(4).readUInt32LE();
  const r = prng(seed);
  const tally = new Map<string, number>();
  for (let done = 0; done < PER_EXPORT; done += WAVE) {
    const wave = Array.from({ length: WAVE }, () => mutate(r, valid, fieldCount, positions));
    const codes = await Promise.all(wave.map((input) => answer(vault.callFrame(fn, input))));
    for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
  }
  console.log(`fuzz ${name} (seed ${seed}): ${[...tally].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const c of tally.keys()) expect(ALLOWED).toContain(c);
  expect([...tally.values()].reduce((a, b) => a + b)).toBe(PER_EXPORT);
  // The instance still works after all that.
  const g = await vault.generate(bind('after'));
  const s = await vault.sign(g.sealed, bind('after'), digest);
  expect(await enclave.verify(g.publicKey, digest, s.signature)).toBe(true);
}

const vid = new TextEncoder().encode('fuzz');
const acct = new TextEncoder().encode(TEST_ACCOUNT); // the account `sealed` is bound to
const pk = (): Uint8Array => Uint8Array.from(randomBytes(33));

test('info', () => fuzz('info', 'info', encodeFrame([]), 0));
test('generate', () => fuzz('generate', 'generate', encodeFrame([vid, acct]), 2));
test('sign', () => fuzz('sign', 'sign', encodeFrame([sealed, vid, acct, digest]), 4));
test('verify', () => fuzz('verify', 'verify', encodeFrame([pk(), digest, randomBytes(64), Uint8Array.of(0)]), 4));
test('refresh', () => fuzz('refresh', 'refresh', encodeFrame([sealed, vid, acct]), 3));
test('check_seal', () => fuzz('check_seal', 'check_seal', encodeFrame([sealed, vid, acct]), 3));
// Export: the password field is left alone, so every mutated frame that parses fails to unseal
// before the KDF runs.
test('export', () => {
  const frame = encodeFrame([sealed, vid, acct, PASSWORD]);
  return fuzz('export', 'export', frame, 4, range(0, frame.length - PASSWORD.length));
});
// Import of a v1 envelope: mutations go to the frame header, the envelope's length and its KDF header
// (version, kdf, log2 N, r, p), which the enclave checks before the KDF; the rare mutation that leaves
// valid parameters runs scrypt and fails the password check.
test('import', () => {
  const frame = encodeFrame([envelope, PASSWORD, vid, acct]);
  return fuzz('import', 'import', frame, 4, range(0, 9));
});
// Import of a v2 envelope: mutations go to the frame header, the envelope's length, its version and
// KDF id, the top byte of m, the top three bytes of t, p and the vault id's length: each change makes
// the envelope malformed or over the bounds, refused before Argon2id allocates anything.
test('import v2', () => {
  const frame = encodeFrame([envelopeV2, PASSWORD, vid, acct]);
  const at = 4; // the envelope's first byte in the frame
  return fuzz('import v2', 'import', frame, 4, [0, 1, 2, 3, at, at + 1, at + 5, at + 7, at + 8, at + 9, at + 10, at + 67, at + 68]);
});
