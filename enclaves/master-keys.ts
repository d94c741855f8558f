// Master keys seal every vault (HKDF per vault id). Each has a numeric id so that keys can rotate:
// the current one seals, older ones still open until `refresh` re-seals under the current one.
// They are handed to the enclave as Extism config and never logged.
import { HwayError } from '../errors.js';

export interface MasterKey {
  id: number;
  key: Uint8Array;
}

export interface MasterKeyRing {
  keys: readonly MasterKey[];
  currentId: number;
}

/** Parses `ID:HEX[,ID:HEX…]` (the HWAY_MASTER_KEY / key file format); a bare HEX is id 1. */
export function parseMasterKeys(text: string, currentId?: number): MasterKeyRing {
  const keys: MasterKey[] = [];
  for (const part of text.trim().split(/[\s,]+/).filter(Boolean)) {
    const m = /^(?:(\d{1,10}):)?([0-9a-fA-F]{64})$/.exec(part);
    if (m === null) throw new HwayError('E_BAD_INPUT', 'master key must be 64 hex digits, optionally prefixed by "ID:"', { permanent: true });
    const id = m[1] === undefined ? 1 : Number(m[1]);
    if (id < 1 || id > 0xffffffff) throw new HwayError('E_BAD_INPUT', 'master key id must be 1 to 4294967295', { permanent: true });
    if (keys.some((k) => k.id === id)) throw new HwayError('E_BAD_INPUT', `master key id ${id} appears twice`, { permanent: true });
    keys.push({ id, key: Uint8Array.from(Buffer.from(m[2]!, 'hex')) });
  }
  return ring(keys, currentId);
}

/** A ring whose current key is `currentId`, or the highest id when none is named. */
export function ring(keys: readonly MasterKey[], currentId?: number): MasterKeyRing {
  if (keys.length === 0) throw new HwayError('E_BAD_INPUT', 'no master key given', { permanent: true });
  for (const k of keys) {
    if (k.key.length !== 32) throw new HwayError('E_BAD_INPUT', `master key ${k.id} must be 32 bytes`, { permanent: true });
  }
  const current = currentId ?? Math.max(...keys.map((k) => k.id));
  if (!keys.some((k) => k.id === current)) throw new HwayError('E_BAD_INPUT', `current master key id ${current} is not among the keys`, { permanent: true });
  return { keys, currentId: current };
}

/** The enclave's configuration entries for a ring (ABI.md, Configuration). */
export function enclaveConfig(r: MasterKeyRing): Record<string, string> {
  return {
    hway_master_keys: r.keys.map((k) => `${k.id}:${Buffer.from(k.key).toString('hex')}`).join(','),
    hway_current_key: String(r.currentId),
  };
}
