// Shared pieces of the chain-native schemes: the E_BAD_PAYLOAD helper that names the field, JSON
// shape checks, and the shape of a prepared signing request.
import { HwayError } from '../../errors.js';
import type { Json } from '../ingress/task.js';

/** A permanent E_BAD_PAYLOAD; `field` is the path of the offending field (e.g. `input.maxFeePerGas`). */
export function bad(field: string, message: string): never {
  throw new HwayError('E_BAD_PAYLOAD', `${field} ${message}`, { permanent: true });
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function object(v: unknown, field: string): Record<string, unknown> {
  if (!isObject(v)) bad(field, 'must be a JSON object');
  return v;
}

/** Refuses any key not in `allowed` (a misspelt field would otherwise be silently left out of what is signed). */
export function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${field}.${k}`, `is not a known field (known: ${allowed.join(', ')})`);
}

const DEC_RE = /^(0|[1-9][0-9]*)$/;
const HEXQ_RE = /^0x[0-9a-fA-F]+$/;

/**
 * A non-negative integer as JSON carries it: a safe integer number, a decimal string, or a 0x hex
 * string (bigints cannot travel in JSON). At most `maxBits` bits.
 */
export function quantity(v: unknown, field: string, maxBits = 256): bigint {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) bad(field, 'must be a non-negative integer (use a decimal or 0x string above 2^53)');
    n = BigInt(v);
  } else if (typeof v === 'string' && (DEC_RE.test(v) || HEXQ_RE.test(v))) {
    n = BigInt(v);
  } else {
    bad(field, 'must be a non-negative integer: a number, a decimal string or a 0x hex string');
  }
  if (n >= 1n << BigInt(maxBits)) bad(field, `must be below 2^${maxBits}`);
  return n;
}

/** A quantity that must fit a JS number (nonces, chain ids). */
export function smallInt(v: unknown, field: string): number {
  const n = quantity(v, field, 53);
  return Number(n);
}

/** 0x-prefixed hex of whole bytes. */
export function hexBytes(v: unknown, field: string, size?: number): `0x${string}` {
  if (typeof v !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(v)) bad(field, 'must be 0x-prefixed hex of whole bytes');
  if (size !== undefined && v.length !== 2 + 2 * size) bad(field, `must be ${size} bytes`);
  if (v.length > 2 + 2 * (1 << 20)) bad(field, 'is larger than 1 MiB');
  return v.toLowerCase() as `0x${string}`;
}

/** The vault's signature over the prepared digest: 64-byte r‖s (low-S) and its recovery id. */
export interface RawSignature {
  signature: Uint8Array;
  recovery: number;
}

/** What a scheme prepared from its input: the digest to sign and how to turn the signature into its result. */
export interface Prepared {
  digest: Uint8Array;
  /**
   * The sender the input names (a transaction's `from`, a Filecoin message's `From`), which must be
   * the vault's own address: checked against the vault's key before anything is signed.
   */
  sender?: { field: string; address: string };
  finish(sig: RawSignature): { [k: string]: Json };
}
