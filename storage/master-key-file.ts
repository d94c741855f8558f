// Where a node's master keys come from: HWAY_MASTER_KEY, or a key file (created on first start by
// `hway start`, mode 0600). The file format is the same as the variable's: `ID:HEX[,ID:HEX…]`.
// A key file is read and written as bytes, never as a string, and those bytes are zeroed after use
// (the ring itself is bytes too: enclaves/master-keys.ts).
import { randomFillSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseMasterKeys, type MasterKeyRing } from '../enclaves/master-keys.js';
import { HwayError } from '../errors.js';

export interface MasterKeySource {
  ring: MasterKeyRing;
  /** Where it came from (for a log line: never the key itself). */
  origin: 'option' | 'env' | 'file' | 'created';
  path?: string;
}

export function loadMasterKeys(opts: { env?: NodeJS.ProcessEnv; file: string; create: boolean }): MasterKeySource {
  const fromEnv = opts.env?.HWAY_MASTER_KEY;
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { ring: parseMasterKeys(fromEnv), origin: 'env' };
  if (existsSync(opts.file)) {
    const mode = statSync(opts.file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new HwayError('E_BAD_INPUT', `master key file ${opts.file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`, { permanent: true });
    }
    const bytes = readFileSync(opts.file);
    try {
      return { ring: parseMasterKeys(bytes), origin: 'file', path: opts.file };
    } finally {
      bytes.fill(0);
    }
  }
  if (!opts.create) {
    throw new HwayError('E_BAD_INPUT', `no master key: set HWAY_MASTER_KEY or create ${opts.file} (hway start creates one)`, { permanent: true });
  }
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  const key = randomFillSync(new Uint8Array(32));
  const text = new Uint8Array(2 + 64 + 1); // "1:" HEX "\n"
  const hex = '0123456789abcdef';
  text[0] = 0x31;
  text[1] = 0x3a;
  for (let i = 0; i < 32; i++) {
    text[2 + 2 * i] = hex.charCodeAt(key[i]! >> 4);
    text[3 + 2 * i] = hex.charCodeAt(key[i]! & 15);
  }
  text[66] = 0x0a;
  try {
    // 'wx': never overwrite a key file another process created meanwhile.
    writeFileSync(opts.file, text, { mode: 0o600, flag: 'wx' });
    chmodSync(opts.file, 0o600);
    return { ring: parseMasterKeys(text), origin: 'created', path: opts.file };
  } finally {
    text.fill(0);
    key.fill(0);
  }
}
