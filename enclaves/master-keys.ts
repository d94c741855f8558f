// Master keys seal every vault (HKDF per vault id). Each has a numeric id so that keys can rotate:
// the current one seals, older ones still open until `refresh` re-seals under the current one.
//
// On the host they are bytes, never strings: a JS string cannot be zeroed, and every copy of it (a
// worker's start-up data, an Extism plugin's config) lives until the garbage collector gets to it.
// The enclave receives them as one binary frame in shared memory (`masterKeyFrame`), which every
// enclave worker reads in place and passes to each new plugin instance through the instance's
// `set_master_keys` export (ABI.md, "Master keys"). They are never logged.
import { HwayError } from '../errors.js';

export interface MasterKey {
  id: number;
  key: Uint8Array;
}

export interface MasterKeyRing {
  keys: readonly MasterKey[];
  currentId: number;
}

/** At most this many keys in one ring (the enclave's CONFIG_MAX_KEYS). */
export const MAX_MASTER_KEYS = 64;
/** The enclave export that takes the ring; only the enclave pool's workers call it. */
export const SET_MASTER_KEYS = 'set_master_keys';
const ENTRY = 36; // key id (u32 LE) ‖ key (32)

const bad = (message: string): HwayError => new HwayError('E_BAD_INPUT', message, { permanent: true });

function isSeparator(c: number): boolean {
  return c === 0x2c || c === 0x20 || (c >= 0x09 && c <= 0x0d); // ',', space, \t \n \v \f \r
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** One `[ID:]HEX` item of `text[start, end)`, decoded straight into bytes. */
function parseItem(text: Uint8Array, start: number, end: number): MasterKey {
  const form = 'master key must be 64 hex digits, optionally prefixed by "ID:"';
  let colon = -1;
  for (let i = start; i < end; i++) if (text[i] === 0x3a) { colon = i; break; }
  let id = 1;
  let hexAt = start;
  if (colon !== -1) {
    const digits = colon - start;
    if (digits < 1 || digits > 10) throw bad(form);
    id = 0;
    for (let i = start; i < colon; i++) {
      const c = text[i]!;
      if (c < 0x30 || c > 0x39) throw bad(form);
      id = id * 10 + (c - 0x30);
    }
    hexAt = colon + 1;
  }
  if (end - hexAt !== 64) throw bad(form);
  const key = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    const hi = nibble(text[hexAt + 2 * i]!);
    const lo = nibble(text[hexAt + 2 * i + 1]!);
    if (hi < 0 || lo < 0) {
      key.fill(0);
      throw bad(form);
    }
    key[i] = (hi << 4) | lo;
  }
  if (id < 1 || id > 0xffffffff) {
    key.fill(0);
    throw bad('master key id must be 1 to 4294967295');
  }
  return { id, key };
}

/**
 * Parses `ID:HEX[,ID:HEX…]` (the HWAY_MASTER_KEY / key file format; items separated by commas or
 * white space); a bare HEX is id 1. Given bytes (a key file read as a Buffer), it decodes them without
 * making a string, so that the caller can zero them afterwards.
 */
export function parseMasterKeys(text: string | Uint8Array, currentId?: number): MasterKeyRing {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const keys: MasterKey[] = [];
  try {
    let i = 0;
    while (i < bytes.length) {
      while (i < bytes.length && isSeparator(bytes[i]!)) i++;
      if (i >= bytes.length) break;
      let end = i;
      while (end < bytes.length && !isSeparator(bytes[end]!)) end++;
      const k = parseItem(bytes, i, end);
      if (keys.some((x) => x.id === k.id)) {
        k.key.fill(0);
        throw bad(`master key id ${k.id} appears twice`);
      }
      keys.push(k);
      i = end;
    }
    return ring(keys, currentId);
  } catch (err) {
    wipeMasterKeys({ keys, currentId: 0 });
    throw err;
  } finally {
    if (typeof text === 'string') bytes.fill(0);
  }
}

/** A ring whose current key is `currentId`, or the highest id when none is named. */
export function ring(keys: readonly MasterKey[], currentId?: number): MasterKeyRing {
  if (keys.length === 0) throw bad('no master key given');
  if (keys.length > MAX_MASTER_KEYS) throw bad(`at most ${MAX_MASTER_KEYS} master keys`);
  const seen = new Set<number>();
  for (const k of keys) {
    if (!Number.isInteger(k.id) || k.id < 1 || k.id > 0xffffffff) throw bad('master key id must be 1 to 4294967295');
    if (seen.has(k.id)) throw bad(`master key id ${k.id} appears twice`);
    seen.add(k.id);
    if (!(k.key instanceof Uint8Array) || k.key.length !== 32) throw bad(`master key ${k.id} must be 32 bytes`);
  }
  const current = currentId ?? Math.max(...keys.map((k) => k.id));
  if (!keys.some((k) => k.id === current)) throw bad(`current master key id ${current} is not among the keys`);
  return { keys, currentId: current };
}

/**
 * The input frame of the enclave's `set_master_keys` export (ABI.md, "Master keys"): current key id
 * (u32 LE), then the ring (key id u32 LE ‖ 32-byte key, per key). It is written into a
 * SharedArrayBuffer, so that handing it to a worker thread shares this one copy instead of cloning
 * it; its owner zeroes it (`new Uint8Array(frame).fill(0)`) when the enclave closes.
 */
export function masterKeyFrame(r: MasterKeyRing): SharedArrayBuffer {
  const { keys, currentId } = ring(r.keys, r.currentId);
  const ringLen = ENTRY * keys.length;
  const sab = new SharedArrayBuffer(2 + 2 + 4 + 2 + ringLen);
  const b = new Uint8Array(sab);
  const v = new DataView(sab);
  b[0] = 1; // frame version
  b[1] = 2; // fields
  v.setUint16(2, 4, true);
  v.setUint32(4, currentId, true);
  v.setUint16(8, ringLen, true);
  let at = 10;
  for (const k of keys) {
    v.setUint32(at, k.id, true);
    b.set(k.key, at + 4);
    at += ENTRY;
  }
  return sab;
}

/** Overwrites every key of a ring with zeros (for rings the caller parsed itself and no longer needs). */
export function wipeMasterKeys(r: MasterKeyRing): void {
  for (const k of r.keys) k.key.fill(0);
}
