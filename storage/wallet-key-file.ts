// The key file of `hway wallet run`: the secp256k1 private keys a wallet process serves through the
// gateway. Format: one key per line, 64 hex digits (an optional 0x prefix); blank lines and lines
// starting with # are ignored. Like the master key and token secret files, it must not be readable
// by group or others (chmod 600), and it is read as bytes that are zeroed after parsing, so that no
// string copy of a key is left in the heap. Errors name the file and a line number, never a key.
import { readFileSync, statSync } from 'node:fs';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { HwayError } from '../errors.js';

/** Most keys one wallet process serves: far above any real wallet, a bound for a file gone wrong. */
export const MAX_WALLET_KEYS = 10_000;

const bad = (message: string): HwayError => new HwayError('E_BAD_INPUT', message, { permanent: true });

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d;

/** Parses the file's bytes (see the top of this file); the caller zeroes `bytes`. */
export function parseWalletKeys(bytes: Uint8Array, file = 'key file'): Uint8Array[] {
  const keys: Uint8Array[] = [];
  let line = 0;
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    line++;
    let a = start;
    let b = end;
    start = end + 1;
    while (a < b && isSpace(bytes[a]!)) a++;
    while (b > a && isSpace(bytes[b - 1]!)) b--;
    if (a === b || bytes[a] === 0x23 /* # */) continue;
    if (b - a >= 2 && bytes[a] === 0x30 && (bytes[a + 1] === 0x78 || bytes[a + 1] === 0x58)) a += 2;
    const key = new Uint8Array(32);
    let ok = b - a === 64;
    for (let i = 0; ok && i < 32; i++) {
      const hi = nibble(bytes[a + 2 * i]!);
      const lo = nibble(bytes[a + 2 * i + 1]!);
      if (hi < 0 || lo < 0) ok = false;
      else key[i] = (hi << 4) | lo;
    }
    if (!ok || !secp256k1.utils.isValidSecretKey(key)) {
      key.fill(0);
      for (const k of keys) k.fill(0);
      throw bad(`${file}, line ${line}: not a secp256k1 private key (64 hex digits)`);
    }
    if (keys.some((k) => k.length === key.length && k.every((x, i) => x === key[i]))) {
      key.fill(0);
      for (const k of keys) k.fill(0);
      throw bad(`${file}, line ${line}: the same key is listed twice`);
    }
    keys.push(key);
    if (keys.length > MAX_WALLET_KEYS) {
      for (const k of keys) k.fill(0);
      throw bad(`${file} holds more than ${MAX_WALLET_KEYS} keys`);
    }
  }
  if (keys.length === 0) throw bad(`${file} holds no key (one 64-hex-digit private key per line)`);
  return keys;
}

/** Reads and parses a key file; E_BAD_INPUT when it is missing, readable by others, or malformed. */
export function readWalletKeyFile(file: string): Uint8Array[] {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (e) {
    throw bad(`cannot read key file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if ((mode & 0o077) !== 0) throw bad(`key file ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw bad(`cannot read key file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parseWalletKeys(bytes, `key file ${file}`);
  } finally {
    bytes.fill(0);
  }
}
