// Credentials and the MACs that make Redis an untrusted transport (DESIGN.md, "Trust model").
//
// A credential is `<jwt>.<request key>`: the token's claims (an HS256 JWT) plus a 32-byte request key
// that the nodes derive from the server secret, HMAC(secret, "hway/request-key/v1" ‖ 0 ‖ jti). The
// holder gets it once, at issue. Only the JWT ever travels through Redis, and the JWT alone is not
// enough to act: every request carries a MAC under the request key over what it asks for, and every
// outcome carries one over what it answers. Each MAC starts with its own label, so a MAC made for one
// purpose never verifies for another.
//
// Everything here is pure (no Redis, no clock other than what callers pass), so producers, nodes and
// the gateway share one definition of each byte string.
import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { HwayError } from '../errors.js';

const LABEL = {
  requestKey: 'hway/request-key/v1',
  task: 'hway/task/v1',
  outcome: 'hway/outcome/v1',
  secretBox: 'hway/secret-box/v1',
  kid: 'hway/kid/v1',
} as const;

const KEY_BYTES = 32;
const MAC_B64_LEN = 43; // base64url of 32 bytes, unpadded

/** What a producer or wallet holds: the JWT and its request key. */
export interface Credential {
  jwt: string;
  requestKey: Uint8Array;
}

const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

// A key imported once per key, not once per MAC: importing it was most of an HMAC's cost on the
// sign path (bench/pipeline.ts --auth-only). Request keys live as long as their credential.
const imported = new WeakMap<Uint8Array, KeyObject>();
function keyObject(key: Uint8Array): KeyObject {
  let k = imported.get(key);
  if (k === undefined) imported.set(key, (k = createSecretKey(key)));
  return k;
}

/** HMAC-SHA256 over a label and NUL-separated parts: every MAC of Highway is one of these. */
export function hmac(key: Uint8Array, label: string, ...parts: Array<string | Uint8Array>): Buffer {
  const h = createHmac('sha256', keyObject(key));
  // Runs of string parts go in as one update: each update is a call into C++.
  let run = label;
  for (const p of parts) {
    if (typeof p === 'string') run += `\0${p}`;
    else {
      h.update(`${run}\0`);
      h.update(p);
      run = '';
    }
  }
  if (run !== '') h.update(run);
  return h.digest();
}

/** Constant-time check of a base64url MAC against the expected one. */
export function equalB64(mac: Buffer, given: string): boolean {
  if (given.length !== MAC_B64_LEN) return false;
  const g = Buffer.from(given, 'base64url');
  return g.length === mac.length && timingSafeEqual(g, mac);
}

/** The key id of a token secret: names it in the JWT header so that secrets can be rotated. */
export function keyId(secret: Uint8Array): string {
  return hmac(secret, LABEL.kid).toString('base64url').slice(0, 12);
}

/** The request key of token `jti` (nodes only: it needs the secret). */
export function deriveRequestKey(secret: Uint8Array, jti: string): Uint8Array {
  return hmac(secret, LABEL.requestKey, jti);
}

export function formatCredential(c: Credential): string {
  return `${c.jwt}.${b64u(c.requestKey)}`;
}

/** Parses `<jwt>.<request key>`; a bare JWT (a token of an older version) is refused. */
export function parseCredential(s: string): Credential {
  if (typeof s !== 'string') throw badCredential('a credential is required');
  const parts = s.trim().split('.');
  if (parts.length === 3) throw badCredential('this is a bare token of an older version: issue a new credential (hway token issue)');
  if (parts.length !== 4 || parts.some((p) => p === '' || !/^[A-Za-z0-9_-]+$/.test(p))) throw badCredential('a credential is <jwt>.<request key>');
  const requestKey = Buffer.from(parts[3]!, 'base64url');
  if (requestKey.length !== KEY_BYTES) throw badCredential('the request key of a credential is 32 bytes');
  return { jwt: parts.slice(0, 3).join('.'), requestKey: new Uint8Array(requestKey) };
}

function badCredential(message: string): HwayError {
  return new HwayError('E_UNAUTHORIZED', message, { permanent: true });
}

// ---- requests (tasks) ----

/** What a task's MAC covers. The payload is its JSON exactly as stored. */
export interface TaskFields {
  id: string;
  type: string;
  key: string;
  payload: string;
}

/** The task hash's `auth` field: `1 <exp ms> <mac> <jwt>`. */
export interface TaskAuthField {
  jwt: string;
  /** Request expiry, ms since the epoch. */
  exp: number;
  mac: string;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

function taskMac(requestKey: Uint8Array, t: TaskFields, exp: number): Buffer {
  return hmac(requestKey, LABEL.task, t.id, t.type, t.key, sha256(t.payload), String(exp));
}

export function signTask(c: Credential, t: TaskFields, exp: number): string {
  return `1 ${exp} ${taskMac(c.requestKey, t, exp).toString('base64url')} ${c.jwt}`;
}

/** Parses a task's `auth` field; null when it is missing or malformed. */
export function parseTaskAuth(field: string | null | undefined): TaskAuthField | null {
  if (!field) return null;
  const parts = field.split(' ');
  if (parts.length !== 4 || parts[0] !== '1' || !/^\d{1,16}$/.test(parts[1]!)) return null;
  return { exp: Number(parts[1]), mac: parts[2]!, jwt: parts[3]! };
}

export function verifyTaskMac(requestKey: Uint8Array, t: TaskFields, a: TaskAuthField): boolean {
  return equalB64(taskMac(requestKey, t, a.exp), a.mac);
}

// ---- outcomes ----
// A stored or published outcome is the envelope JSON with the MAC as its first member:
// `{"a":"<mac>",` + envelope.slice(1). Readers that do not check it still parse the same JSON; a
// checker recovers the exact envelope bytes without re-serialising anything.

const OUTCOME_HEAD = '{"a":"';
const OUTCOME_PREFIX_LEN = OUTCOME_HEAD.length + MAC_B64_LEN + 2; // the MAC, then `",`

export function signOutcome(requestKey: Uint8Array, taskId: string, envelope: string): string {
  const mac = hmac(requestKey, LABEL.outcome, taskId, envelope).toString('base64url');
  return `${OUTCOME_HEAD}${mac}",${envelope.slice(1)}`;
}

/**
 * The envelope of an authenticated outcome, or null when `raw` carries no MAC, or one that is not
 * this task's under this key (forged, or swapped from another task).
 */
export function openOutcome(requestKey: Uint8Array, taskId: string, raw: string): string | null {
  if (!raw.startsWith(OUTCOME_HEAD) || raw.length <= OUTCOME_PREFIX_LEN || raw.slice(OUTCOME_PREFIX_LEN - 2, OUTCOME_PREFIX_LEN) !== '",') return null;
  const envelope = `{${raw.slice(OUTCOME_PREFIX_LEN)}`;
  const mac = hmac(requestKey, LABEL.outcome, taskId, envelope);
  return equalB64(mac, raw.slice(OUTCOME_HEAD.length, OUTCOME_HEAD.length + MAC_B64_LEN)) ? envelope : null;
}

// ---- secrets inside payloads (export and import passwords) ----
// XChaCha20-Poly1305 under a key of this request key and task id, with the task id and type as
// associated data: a box copied into another task, or another credential's task, does not open.

export const SECRET_BOX_PREFIX = 'x1.';

function boxKey(requestKey: Uint8Array, taskId: string): Uint8Array {
  return hmac(requestKey, LABEL.secretBox, taskId);
}

export function sealSecret(requestKey: Uint8Array, taskId: string, type: string, secret: string): string {
  const nonce = randomBytes(24);
  const ad = new TextEncoder().encode(`${taskId}\0${type}`);
  const ct = xchacha20poly1305(boxKey(requestKey, taskId), nonce, ad).encrypt(new TextEncoder().encode(secret));
  return `${SECRET_BOX_PREFIX}${b64u(nonce)}.${b64u(ct)}`;
}

export function isSealedSecret(x: unknown): x is string {
  return typeof x === 'string' && x.startsWith(SECRET_BOX_PREFIX);
}

/** Opens a sealed secret; E_BAD_PAYLOAD when it is malformed or was not sealed for this task. */
export function openSecret(requestKey: Uint8Array, taskId: string, type: string, box: string): string {
  const parts = box.slice(SECRET_BOX_PREFIX.length).split('.');
  const nonce = parts.length === 2 ? Buffer.from(parts[0]!, 'base64url') : Buffer.alloc(0);
  const ct = parts.length === 2 ? Buffer.from(parts[1]!, 'base64url') : Buffer.alloc(0);
  if (nonce.length !== 24 || ct.length < 16) throw new HwayError('E_BAD_PAYLOAD', 'the sealed password is malformed', { permanent: true });
  try {
    const ad = new TextEncoder().encode(`${taskId}\0${type}`);
    return new TextDecoder('utf-8', { fatal: true }).decode(xchacha20poly1305(boxKey(requestKey, taskId), nonce, ad).decrypt(ct));
  } catch {
    throw new HwayError('E_BAD_PAYLOAD', 'the sealed password was not sealed for this task', { permanent: true });
  }
}
