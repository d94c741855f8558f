// The enclave's binary frames (enclaves/vault/ABI.md): version byte, field count, u16-length fields.
// The host checks every length too: a frame from the enclave that does not parse is E_ENCLAVE, never
// a silently truncated value.
import { HwayError, type ErrorCode } from '../errors.js';

export const FRAME_VERSION = 1;
export const MAX_INPUT = 70_000;
const MAX_FIELD = 0xffff;

/** Status codes of the output frame, in ABI order (index = status). */
const STATUS_CODES: readonly (ErrorCode | null)[] = [
  null,
  'E_BAD_INPUT',
  'E_CORRUPT',
  'E_WRONG_PASSWORD',
  'E_KEY_RETIRED',
  'E_INVALID_KEY',
  'E_ENCLAVE', // E_CONFIG: the host handed no usable master key
  'E_ENCLAVE', // E_RNG
  'E_ENCLAVE', // E_NO_MEMORY
  'E_ENCLAVE', // E_INTERNAL
  'E_FORBIDDEN', // ABI 3: the seal is bound to another account than the request's
];

const STATUS_MESSAGES: readonly string[] = [
  'ok',
  'malformed enclave input',
  'sealed data or envelope is corrupt, or belongs to another vault',
  'wrong password',
  'sealed under a retired master key',
  'invalid private key',
  'enclave has no usable master key configuration',
  'enclave randomness unavailable',
  'enclave out of memory',
  'internal enclave error',
  'sealed for another account',
];

/** Bad input, a wrong password, corrupt data: the same request will fail the same way again. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_BAD_INPUT', 'E_CORRUPT', 'E_WRONG_PASSWORD', 'E_KEY_RETIRED', 'E_INVALID_KEY', 'E_FORBIDDEN']);

export function encodeFrame(fields: readonly Uint8Array[]): Uint8Array {
  if (fields.length > 255) throw new HwayError('E_BAD_INPUT', 'too many fields', { permanent: true });
  let size = 2;
  for (const f of fields) {
    if (f.length > MAX_FIELD) throw new HwayError('E_BAD_INPUT', `field of ${f.length} bytes exceeds ${MAX_FIELD}`, { permanent: true });
    size += 2 + f.length;
  }
  if (size > MAX_INPUT) throw new HwayError('E_BAD_INPUT', `input of ${size} bytes exceeds ${MAX_INPUT}`, { permanent: true });
  const out = new Uint8Array(size);
  out[0] = FRAME_VERSION;
  out[1] = fields.length;
  let at = 2;
  for (const f of fields) {
    out[at] = f.length & 0xff;
    out[at + 1] = f.length >>> 8;
    out.set(f, at + 2);
    at += 2 + f.length;
  }
  return out;
}

/** Parses an output frame; a non-zero status becomes the HwayError of its code. */
export function decodeOutput(frame: Uint8Array): Uint8Array[] {
  if (frame.length < 3 || frame[0] !== FRAME_VERSION) throw new HwayError('E_ENCLAVE', 'enclave returned a malformed frame');
  const status = frame[1]!;
  if (status !== 0) {
    const code = STATUS_CODES[status] ?? 'E_ENCLAVE';
    const message = STATUS_MESSAGES[status] ?? `unknown enclave status ${status}`;
    throw new HwayError(code, message, { permanent: PERMANENT.has(code) });
  }
  const count = frame[2]!;
  const fields: Uint8Array[] = [];
  let at = 3;
  for (let i = 0; i < count; i++) {
    if (at + 2 > frame.length) throw new HwayError('E_ENCLAVE', 'enclave returned a truncated frame');
    const len = frame[at]! | (frame[at + 1]! << 8);
    at += 2;
    if (at + len > frame.length) throw new HwayError('E_ENCLAVE', 'enclave returned a truncated frame');
    fields.push(frame.subarray(at, at + len));
    at += len;
  }
  if (at !== frame.length) throw new HwayError('E_ENCLAVE', 'enclave returned trailing bytes');
  return fields;
}

/** Asserts an output field's exact size (the ABI fixes every size the host relies on). */
export function expectSize(field: Uint8Array | undefined, size: number, what: string): Uint8Array {
  if (field === undefined || field.length !== size) throw new HwayError('E_ENCLAVE', `enclave returned a ${what} of unexpected size`);
  return field;
}

export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export function readU32le(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
}
