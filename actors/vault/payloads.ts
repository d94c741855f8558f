// Task payloads of the vault operations, validated strictly at the boundary: a payload that does not
// parse is a permanent E_BAD_PAYLOAD (the ingress archives it without retrying) and never reaches an
// actor or the enclave.
import { HwayError } from '../../errors.js';
import { signingDigest } from '../chains/digest.js';
import { isScheme, SCHEMES, type Scheme } from '../chains/names.js';
import { isSealedSecret } from '../credential.js';

export const VAULT_TASKS = ['vault:generate', 'vault:sign', 'vault:verify', 'vault:refresh', 'vault:export', 'vault:import', 'vault:info', 'vault:delete', 'vault:sign-as'] as const;
export type VaultTaskType = (typeof VAULT_TASKS)[number];

/** Vault ids are also actor names and Redis key parts: a conservative alphabet. */
export const VAULT_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;
const CID_RE = /^[A-Za-z0-9]{10,200}$/;
const HEX_RE = /^(0x)?([0-9a-fA-F]{2})*$/;

export type HashName = 'none' | 'sha256' | 'keccak256';

export interface GeneratePayload { vaultId: string }
export interface SignPayload { vaultId: string; digest: Uint8Array }
export interface VerifyPayload { publicKey: Uint8Array; digest: Uint8Array; signature: Uint8Array }
export interface RefreshPayload { vaultId: string }
export interface ExportPayload { vaultId: string; password: string }
export interface ImportPayload { vaultId: string; cid: string; password: string }
export interface InfoPayload { vaultId: string }
export interface DeletePayload { vaultId: string }
/** A chain-native signature: the scheme and its input, which actors/chains checks (in tasks.ts). */
export interface SignAsPayload { vaultId: string; scheme: Scheme; input: unknown }

function bad(message: string): never {
  throw new HwayError('E_BAD_PAYLOAD', message, { permanent: true });
}

function object(p: unknown): Record<string, unknown> {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) bad('payload must be a JSON object');
  return p as Record<string, unknown>;
}

function vaultId(o: Record<string, unknown>): string {
  const v = o.vaultId;
  if (typeof v !== 'string' || !VAULT_ID_RE.test(v)) bad('vaultId must be 1–128 characters of A–Z a–z 0–9 . _ -');
  return v;
}

function hex(o: Record<string, unknown>, field: string, sizes?: number[]): Uint8Array {
  const v = o[field];
  if (typeof v !== 'string' || !HEX_RE.test(v)) bad(`${field} must be a hex string`);
  const b = Uint8Array.from(Buffer.from(v.replace(/^0x/, ''), 'hex'));
  if (sizes !== undefined && !sizes.includes(b.length)) bad(`${field} must be ${sizes.join(' or ')} bytes`);
  if (b.length > 1 << 20) bad(`${field} is larger than 1 MiB`);
  return b;
}

/** Opens a password the producer sealed for its task (TaskAuth.openSecret); given when auth is on. */
export type OpenSecret = (box: string) => string;

/**
 * The password of an export or import. With auth on it must arrive sealed for the node
 * (actors/credential.ts): a plain one would already have been written to Redis, so it is refused.
 */
function password(o: Record<string, unknown>, open: OpenSecret | undefined): string {
  let v = o.password;
  if (typeof v === 'string' && Buffer.byteLength(v) <= 4096 && isSealedSecret(v)) {
    if (open === undefined) bad('a sealed password needs a node with auth on');
    v = open(v);
  } else if (open !== undefined) {
    bad('with auth on, the password must be sealed for the node (HwayClient seals it)');
  }
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 1024) bad('password must be a string of 1 to 1024 bytes');
  return v;
}

/** Fewest characters (code points) of a new export's password; imports accept old, shorter ones. */
export const MIN_EXPORT_PASSWORD = 12;

/** Refuses a password too short for a new export: E_WEAK_PASSWORD (permanent), before any work. */
export function checkExportPassword(pw: string): void {
  if ([...pw].length < MIN_EXPORT_PASSWORD) {
    throw new HwayError('E_WEAK_PASSWORD', `an export password needs at least ${MIN_EXPORT_PASSWORD} characters`, { permanent: true });
  }
}

/** The 32-byte digest to sign or verify: `hex` as-is (hash "none") or hashed on the host. */
export function digestOf(data: Uint8Array, hash: HashName): Uint8Array {
  return signingDigest(data, hash) ?? bad('with hash "none" the data must be a 32-byte digest');
}

function digest(o: Record<string, unknown>): Uint8Array {
  const hash = o.hash ?? 'none';
  if (hash !== 'none' && hash !== 'sha256' && hash !== 'keccak256') bad('hash must be none, sha256 or keccak256');
  return digestOf(hex(o, 'data'), hash);
}

export const parse = {
  'vault:generate': (p: unknown): GeneratePayload => ({ vaultId: vaultId(object(p)) }),
  'vault:sign': (p: unknown): SignPayload => {
    const o = object(p);
    return { vaultId: vaultId(o), digest: digest(o) };
  },
  'vault:verify': (p: unknown): VerifyPayload => {
    const o = object(p);
    return { publicKey: hex(o, 'publicKey', [33, 65]), digest: digest(o), signature: hex(o, 'signature', [64]) };
  },
  'vault:refresh': (p: unknown): RefreshPayload => ({ vaultId: vaultId(object(p)) }),
  'vault:export': (p: unknown, open?: OpenSecret): ExportPayload => {
    const o = object(p);
    const id = vaultId(o);
    const pw = password(o, open);
    checkExportPassword(pw);
    return { vaultId: id, password: pw };
  },
  'vault:import': (p: unknown, open?: OpenSecret): ImportPayload => {
    const o = object(p);
    if (typeof o.cid !== 'string' || !CID_RE.test(o.cid)) bad('cid must be a CID string');
    return { vaultId: vaultId(o), cid: o.cid, password: password(o, open) };
  },
  'vault:info': (p: unknown): InfoPayload => ({ vaultId: vaultId(object(p)) }),
  'vault:delete': (p: unknown): DeletePayload => ({ vaultId: vaultId(object(p)) }),
  'vault:sign-as': (p: unknown): SignAsPayload => {
    const o = object(p);
    const id = vaultId(o);
    if (!isScheme(o.scheme)) bad(`scheme must be one of ${SCHEMES.join(', ')}`);
    if (o.input === undefined) bad('input is required');
    return { vaultId: id, scheme: o.scheme, input: o.input };
  },
} satisfies Record<VaultTaskType, (p: unknown, open?: OpenSecret) => unknown>;
