// Wire frames of the gateway, JSON over Redis. Every frame that arrives is checked strictly here:
// shape, types, lengths and byte encodings. A frame that fails gets an error reply where a reply
// address is known and is otherwise dropped; it never throws past the parser.
//
// Authentication (frame-auth.ts) is checked where the keys are: producer requests and wallet hellos
// carry a JWT and a MAC as fields; sealed frames (responses, frames to and from wallets) carry theirs
// as a prefix that is stripped before they reach these parsers.
import { HwayError, type ErrorCode } from '../../errors.js';
import { JWT_RE, MAC_RE } from './frame-auth.js';

/** Version of producer requests. 2: a JWT and a MAC instead of a bearer token. */
export const PROTOCOL = 2;
/** Largest frame accepted (bytes of JSON). Sign payloads are bounded below it. */
export const MAX_FRAME = 1 << 20;
export const MAX_SIGN_BYTES = 256 * 1024;
export const MAX_ROUTES_PER_FRAME = 256;

export type WalletKind = 'wallet' | 'proof';

export interface SignMeta {
  /** How the wallet hashes `bytes`: 'raw' means bytes is already the 32-byte digest. */
  type: string;
  extra?: JsonValue;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

// ---- connection frames: wallet → gateway (the hello stream) ----
export type ConnFrame =
  // jwt and mac (frame-auth.ts helloMac) are present when the wallet holds a credential (auth on).
  | { t: 'hello'; conn: string; kind: WalletKind; jwt?: string; mac?: string; nonce: string; targets: string[] }
  | { t: 'add'; conn: string; kind: WalletKind; jwt?: string; mac?: string; nonce: string; targets: string[]; round: number }
  // Sealed under the connection's frame key when auth is on.
  | { t: 'prove'; conn: string; round: number; proofs: Array<{ address: string; signature: string; recovery: number }> }
  | { t: 'remove'; conn: string; targets: string[] }
  | { t: 'bye'; conn: string };

// ---- gateway → wallet (channel per connection) ----
// With auth on, every frame is sealed under the connection's frame key, and those without a deadline
// of their own carry a random `n` and an expiry `exp` (ms), so that each is unique and short-lived
// (wallets refuse replays and stale frames). Round-0 frames name the round's gatewayNonce, from which
// the wallet derives the frame key before it can check the first one.
export interface ControlStamp {
  n?: string;
  exp?: number;
}
export type ToWalletFrame =
  | ({ t: 'challenge'; round: number; gatewayNonce: string; account: string } & ControlStamp)
  | ({ t: 'welcome'; round: number; account: string; accepted: string[]; refused: Array<{ target: string; code: ErrorCode; message: string }>; heartbeatMs: number; gatewayNonce?: string } & ControlStamp)
  | ({ t: 'error'; code: ErrorCode; message: string; round?: number; id?: string; gatewayNonce?: string } & ControlStamp)
  | { t: 'sign'; id: string; reply: string; address: string; bytes: string; meta: SignMeta; deadline: number }
  | { t: 'proof'; id: string; reply: string; miner: string; sectorInfos: JsonValue; randomness: string; deadline: number }
  | ({ t: 'cancel'; id: string } & ControlStamp)
  | ({ t: 'evicted'; reason: string } & ControlStamp);

// ---- wallet → node (reply channel of the node that sent the request; sealed when auth is on) ----
export type WalletReply =
  | { t: 'res'; id: string; conn: string; ok: true; signature?: string; recovery?: number; value?: JsonValue }
  | { t: 'res'; id: string; conn: string; ok: false; code: ErrorCode; message: string };

// ---- producer ↔ node ----
export type Op = 'has' | 'sign' | 'list' | 'miners' | 'miner' | 'proof';
export interface RequestFrame {
  v: number;
  id: string;
  op: Op;
  /** The producer's JWT (auth on): never the whole credential. */
  jwt?: string;
  /** frame-auth.ts requestMac under the credential's request key. */
  mac?: string;
  /** Channel the producer listens on. */
  reply: string;
  /** Wall-clock ms after which nobody waits for the answer. */
  deadline: number;
  args: Record<string, JsonValue>;
}
/** Sealed under the producer's request key when the node authenticated the request (frame-auth.ts). */
export type ResponseFrame =
  | { id: string; ok: true; value: JsonValue }
  | { id: string; ok: false; error: { code: ErrorCode; message: string; retryAfterMs?: number } };

// ---- validation helpers ----
const ID_RE = /^[A-Za-z0-9_.:-]{8,128}$/;
const HEX32_RE = /^[0-9a-f]{64}$/;
const HEX64_RE = /^[0-9a-f]{128}$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const TARGET_RE = /^[A-Za-z0-9]{1,128}$/;
const CHANNEL_RE = /^[\x21-\x7e]{1,300}$/;
const TYPE_RE = /^[a-z0-9_-]{1,32}$/;
const OPS: readonly Op[] = ['has', 'sign', 'list', 'miners', 'miner', 'proof'];
const ERROR_CODE_RE = /^E_[A-Z_]{2,40}$/;

export function bad(message: string): HwayError {
  return new HwayError('E_BAD_INPUT', message, { permanent: true });
}

type Obj = Record<string, unknown>;

function obj(x: unknown, what: string): Obj {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(`${what} must be an object`);
  return x as Obj;
}
function str(o: Obj, k: string, re: RegExp, what = k): string {
  const v = o[k];
  if (typeof v !== 'string' || !re.test(v)) throw bad(`field "${what}" is missing or malformed`);
  return v;
}
function int(o: Obj, k: string, min: number, max: number): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`field "${k}" must be an integer in [${min}, ${max}]`);
  return v;
}
function targets(o: Obj, k = 'targets'): string[] {
  const v = o[k];
  if (!Array.isArray(v) || v.length > MAX_ROUTES_PER_FRAME) throw bad(`field "${k}" must be an array of at most ${MAX_ROUTES_PER_FRAME} strings`);
  for (const a of v) if (typeof a !== 'string' || !TARGET_RE.test(a.startsWith('0x') ? a.slice(2) : a)) throw bad(`field "${k}" holds a malformed entry`);
  return v as string[];
}
function kind(o: Obj): WalletKind {
  const v = o.kind;
  if (v !== 'wallet' && v !== 'proof') throw bad('field "kind" must be "wallet" or "proof"');
  return v;
}
/** Optional JWT and MAC of an authenticated frame. */
function auth(o: Obj): { jwt?: string; mac?: string } {
  const r: { jwt?: string; mac?: string } = {};
  if (o.jwt !== undefined) {
    if (typeof o.jwt !== 'string' || o.jwt.length > 4096 || !JWT_RE.test(o.jwt)) throw bad('field "jwt" must be a JWT');
    r.jwt = o.jwt;
  }
  if (o.mac !== undefined) r.mac = str(o, 'mac', MAC_RE);
  return r;
}
function only(o: Obj, keys: string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`unexpected field "${k}"`);
}

export function parseJson(raw: string): unknown {
  if (typeof raw !== 'string' || raw.length > MAX_FRAME) throw bad('frame too large');
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw bad('frame is not JSON');
  }
}

/** The connection id of a frame that may be malformed, so that an error can still be answered. */
export function connIdOf(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const c = (x as Obj).conn;
  return typeof c === 'string' && ID_RE.test(c) ? c : undefined;
}

export function parseConnFrame(x: unknown): ConnFrame {
  const o = obj(x, 'frame');
  const conn = str(o, 'conn', ID_RE);
  switch (o.t) {
    case 'hello':
      only(o, ['t', 'conn', 'kind', 'jwt', 'mac', 'nonce', 'targets']);
      return { t: 'hello', conn, kind: kind(o), ...auth(o), nonce: str(o, 'nonce', HEX32_RE), targets: targets(o) };
    case 'add':
      only(o, ['t', 'conn', 'kind', 'jwt', 'mac', 'nonce', 'targets', 'round']);
      return { t: 'add', conn, kind: kind(o), ...auth(o), nonce: str(o, 'nonce', HEX32_RE), targets: targets(o), round: int(o, 'round', 1, 1e9) };
    case 'prove': {
      only(o, ['t', 'conn', 'round', 'proofs']);
      const ps = o.proofs;
      if (!Array.isArray(ps) || ps.length > MAX_ROUTES_PER_FRAME) throw bad('field "proofs" must be an array');
      const proofs = ps.map((p) => {
        const po = obj(p, 'proof');
        only(po, ['address', 'signature', 'recovery']);
        const address = po.address;
        if (typeof address !== 'string' || address.length > 128) throw bad('proof address malformed');
        return { address, signature: str(po, 'signature', HEX64_RE), recovery: int(po, 'recovery', 0, 3) };
      });
      return { t: 'prove', conn, round: int(o, 'round', 0, 1e9), proofs };
    }
    case 'remove':
      only(o, ['t', 'conn', 'targets']);
      return { t: 'remove', conn, targets: targets(o) };
    case 'bye':
      only(o, ['t', 'conn']);
      return { t: 'bye', conn };
    default:
      throw bad('unknown frame type');
  }
}

function jsonSize(v: unknown): number {
  return JSON.stringify(v ?? null).length;
}

export function parseWalletReply(x: unknown): WalletReply {
  const o = obj(x, 'reply');
  if (o.t !== 'res') throw bad('unknown frame type');
  const id = str(o, 'id', ID_RE);
  const conn = str(o, 'conn', ID_RE);
  if (o.ok === true) {
    only(o, ['t', 'id', 'conn', 'ok', 'signature', 'recovery', 'value']);
    const r: WalletReply = { t: 'res', id, conn, ok: true };
    if (o.signature !== undefined) {
      r.signature = str(o, 'signature', HEX64_RE);
      r.recovery = int(o, 'recovery', 0, 3);
    }
    if (o.value !== undefined) {
      if (jsonSize(o.value) > MAX_FRAME / 2) throw bad('value too large');
      r.value = o.value as JsonValue;
    }
    return r;
  }
  if (o.ok === false) {
    only(o, ['t', 'id', 'conn', 'ok', 'code', 'message']);
    const code = str(o, 'code', ERROR_CODE_RE) as ErrorCode;
    const message = typeof o.message === 'string' ? o.message.slice(0, 500) : 'wallet error';
    return { t: 'res', id, conn, ok: false, code, message };
  }
  throw bad('field "ok" must be a boolean');
}

/** The `n` / `exp` of a control frame, when present. */
function stamp(o: Obj): ControlStamp {
  const s: ControlStamp = {};
  if (o.n !== undefined) s.n = str(o, 'n', /^[0-9a-f]{32}$/);
  if (o.exp !== undefined) s.exp = int(o, 'exp', 0, 1e15);
  return s;
}

function gatewayNonceOf(o: Obj): { gatewayNonce?: string } {
  return o.gatewayNonce === undefined ? {} : { gatewayNonce: str(o, 'gatewayNonce', HEX32_RE) };
}

export function parseToWallet(x: unknown): ToWalletFrame {
  const o = obj(x, 'frame');
  switch (o.t) {
    case 'challenge':
      return { t: 'challenge', round: int(o, 'round', 0, 1e9), gatewayNonce: str(o, 'gatewayNonce', HEX32_RE), account: str(o, 'account', ACCOUNT_RE), ...stamp(o) };
    case 'welcome': {
      const accepted = targets(o, 'accepted');
      const refused = Array.isArray(o.refused) ? (o.refused as Array<{ target: string; code: ErrorCode; message: string }>) : [];
      return { t: 'welcome', round: int(o, 'round', 0, 1e9), account: String(o.account), accepted, refused, heartbeatMs: int(o, 'heartbeatMs', 10, 3_600_000), ...gatewayNonceOf(o), ...stamp(o) };
    }
    case 'error': {
      const f: ToWalletFrame = { t: 'error', code: str(o, 'code', ERROR_CODE_RE) as ErrorCode, message: String(o.message ?? '').slice(0, 500), ...gatewayNonceOf(o), ...stamp(o) };
      if (typeof o.round === 'number') f.round = o.round;
      if (typeof o.id === 'string') f.id = o.id;
      return f;
    }
    case 'sign': {
      const meta = obj(o.meta, 'meta');
      const m: SignMeta = { type: str(meta, 'type', TYPE_RE, 'meta.type') };
      if (meta.extra !== undefined) m.extra = meta.extra as JsonValue;
      const bytes = str(o, 'bytes', HEX_RE);
      if (bytes.length > MAX_SIGN_BYTES * 2) throw bad('bytes too long');
      return { t: 'sign', id: str(o, 'id', ID_RE), reply: str(o, 'reply', CHANNEL_RE), address: String(o.address), bytes, meta: m, deadline: int(o, 'deadline', 0, 1e15) };
    }
    case 'proof':
      return {
        t: 'proof',
        id: str(o, 'id', ID_RE),
        reply: str(o, 'reply', CHANNEL_RE),
        miner: str(o, 'miner', TARGET_RE),
        sectorInfos: (o.sectorInfos ?? null) as JsonValue,
        randomness: str(o, 'randomness', HEX_RE),
        deadline: int(o, 'deadline', 0, 1e15),
      };
    case 'cancel':
      return { t: 'cancel', id: str(o, 'id', ID_RE), ...stamp(o) };
    case 'evicted':
      return { t: 'evicted', reason: String(o.reason ?? '').slice(0, 500), ...stamp(o) };
    default:
      throw bad('unknown frame type');
  }
}

export function parseRequest(x: unknown): RequestFrame {
  const o = obj(x, 'request');
  only(o, ['v', 'id', 'op', 'jwt', 'mac', 'reply', 'deadline', 'args']);
  if (o.v !== PROTOCOL) throw bad(`unsupported protocol version ${String(o.v)}`);
  const op = o.op as Op;
  if (!OPS.includes(op)) throw bad('unknown op');
  const r: RequestFrame = {
    v: PROTOCOL,
    id: str(o, 'id', ID_RE),
    op,
    reply: str(o, 'reply', CHANNEL_RE),
    deadline: int(o, 'deadline', 0, 1e15),
    args: obj(o.args ?? {}, 'args') as Record<string, JsonValue>,
    ...auth(o),
  };
  return r;
}

export function parseResponse(x: unknown): ResponseFrame {
  const o = obj(x, 'response');
  const id = str(o, 'id', ID_RE);
  if (o.ok === true) return { id, ok: true, value: (o.value ?? null) as JsonValue };
  const e = obj(o.error, 'error');
  const error: { code: ErrorCode; message: string; retryAfterMs?: number } = { code: str(e, 'code', ERROR_CODE_RE) as ErrorCode, message: String(e.message ?? '') };
  if (typeof e.retryAfterMs === 'number') error.retryAfterMs = e.retryAfterMs;
  return { id, ok: false, error };
}

export const isHex32 = (s: string): boolean => HEX32_RE.test(s);
export const ACCOUNT_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MINER_RE = /^[ft]0[0-9]{1,20}$/;
