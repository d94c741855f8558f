// MACs of the signer gateway's frames (DESIGN.md, "Trust model: Redis is untrusted"). Every frame of
// the gateway crosses Redis, so none may be believed for where it came from: each one that matters is
// authenticated by its sender with a key the other side can compute and Redis never sees.
//
//   producer → node   request   jwt + hmac(request key, REQUEST, id, op, reply, sha256(args JSON), deadline)
//   node → producer   response  sealed under the request key, bound to the request id
//   wallet → node     hello/add jwt + hmac(request key, HELLO, conn, kind, nonce, round, targets)
//   node → wallet     any       sealed under the connection's frame key, bound to the connection id
//   wallet → node     prove/res sealed under the frame key (another label), bound to the connection id
//
// The frame key of a connection, fk = hmac(wallet's request key, FRAME_KEY, conn, walletNonce,
// gatewayNonce of round 0), is computable by the wallet (it holds its credential) and by every node
// (they derive request keys from the token secret), from values that are not secret alone: the
// wallet's JWT, the connection id and the two nonces, kept in the connection's Redis record.
//
// A sealed message is its JSON with the MAC as first member, `{"m":"<mac>",` + json.slice(1): readers
// that do not check it parse the same JSON, and a checker recovers the exact bytes that were MAC'd.
// Everything here is pure, so producers, nodes, wallets, tests and benchmarks share one definition.
import { createHash } from 'node:crypto';
import { equalB64, hmac } from '../credential.js';

export const GW_LABEL = {
  request: 'hway/gateway-request/v1',
  response: 'hway/gateway-response/v1',
  hello: 'hway/gateway-hello/v1',
  handshake: 'hway/gateway-handshake/v1',
  frameKey: 'hway/frame-key/v1',
  walletFrame: 'hway/wallet-frame/v1',
  walletReply: 'hway/wallet-reply/v1',
} as const;

/** A MAC on the wire: base64url of 32 bytes, unpadded. */
export const MAC_RE = /^[A-Za-z0-9_-]{43}$/;
/** A bare JWT (three parts). A whole credential has four and must never be put in a frame. */
export const JWT_RE = /^[A-Za-z0-9_-]{1,4000}\.[A-Za-z0-9_-]{1,4000}\.[A-Za-z0-9_-]{1,4000}$/;
/**
 * How long a control frame to a wallet (challenge, welcome, error, cancel, evicted) is good for. Sign
 * and proof frames carry their request's deadline instead. Clocks of nodes and wallets must agree to
 * well within this, as they already must for request deadlines.
 */
export const CONTROL_FRAME_TTL_MS = 60_000;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();
const b64 = (b: Buffer): string => b.toString('base64url');

// ---- handshake ----

/**
 * The challenge a wallet signs for each address it announces:
 * sha256("hway/gateway-handshake/v1" ‖ 0 ‖ connId ‖ 0 ‖ account ‖ 0 ‖ gatewayNonce ‖ walletNonce).
 * Binding the connection id and the account means a proof made for one connection (perhaps relayed
 * to the wallet by someone who controls Redis) proves nothing for another. Ids and accounts hold no NUL
 * (frames.ts) and the nonces are 32 bytes each, so the encoding is unambiguous.
 */
export function challengeDigest(connId: string, account: string, gatewayNonce: Uint8Array, walletNonce: Uint8Array): Uint8Array {
  const h = createHash('sha256');
  h.update(GW_LABEL.handshake).update('\0').update(connId).update('\0').update(account).update('\0');
  return new Uint8Array(h.update(gatewayNonce).update(walletNonce).digest());
}

// ---- producer requests ----

/** What a producer request's MAC covers. `args` is hashed as the JSON the frame carries. */
export interface RequestMacFields {
  id: string;
  op: string;
  reply: string;
  args: unknown;
  /** The request's expiry (ms since the epoch): a node refuses it after. */
  deadline: number;
}

function requestMacBytes(requestKey: Uint8Array, r: RequestMacFields): Buffer {
  // JSON.stringify of what JSON.parse made of a JSON.stringify output is the same string, so the
  // node hashes exactly the bytes the producer sent (and exactly what it acts on).
  return hmac(requestKey, GW_LABEL.request, r.id, r.op, r.reply, sha256(JSON.stringify(r.args)), String(r.deadline));
}

export function requestMac(requestKey: Uint8Array, r: RequestMacFields): string {
  return b64(requestMacBytes(requestKey, r));
}

export function verifyRequestMac(requestKey: Uint8Array, r: RequestMacFields, mac: string): boolean {
  return equalB64(requestMacBytes(requestKey, r), mac);
}

// ---- wallet hello / add ----

export interface HelloMacFields {
  conn: string;
  kind: string;
  /** The wallet nonce of this round, hex. */
  nonce: string;
  /** 0 for hello. */
  round: number;
  targets: string[];
}

function helloMacBytes(requestKey: Uint8Array, f: HelloMacFields): Buffer {
  // Targets never hold a comma (frames.ts), so joining them is unambiguous.
  return hmac(requestKey, GW_LABEL.hello, f.conn, f.kind, f.nonce, String(f.round), f.targets.join(','));
}

export function helloMac(requestKey: Uint8Array, f: HelloMacFields): string {
  return b64(helloMacBytes(requestKey, f));
}

export function verifyHelloMac(requestKey: Uint8Array, f: HelloMacFields, mac: string): boolean {
  return equalB64(helloMacBytes(requestKey, f), mac);
}

// ---- connection frame key ----

export function frameKey(walletRequestKey: Uint8Array, connId: string, walletNonce: Uint8Array, gatewayNonce: Uint8Array): Uint8Array {
  return new Uint8Array(hmac(walletRequestKey, GW_LABEL.frameKey, connId, walletNonce, gatewayNonce));
}

// ---- sealed JSON ----

const SEAL_HEAD = '{"m":"';
const SEAL_PREFIX_LEN = SEAL_HEAD.length + 43 + 2; // the MAC, then `",` (or `"}` for an empty object)

export interface Sealed {
  mac: string;
  /** The JSON that was MAC'd. */
  json: string;
}

type SealLabel = typeof GW_LABEL.response | typeof GW_LABEL.walletFrame | typeof GW_LABEL.walletReply;

/** `json` (an object's JSON) with a MAC under `key` over `label`, `bind` and the JSON as its first member. */
export function seal(key: Uint8Array, label: SealLabel, bind: string, json: string): string {
  const mac = b64(hmac(key, label, bind, json));
  return json === '{}' ? `${SEAL_HEAD}${mac}"}` : `${SEAL_HEAD}${mac}",${json.slice(1)}`;
}

/** The MAC and MAC'd JSON of a sealed message; null when it carries none. Checks nothing else. */
export function unseal(raw: string): Sealed | null {
  if (typeof raw !== 'string' || !raw.startsWith(SEAL_HEAD) || raw.length < SEAL_PREFIX_LEN) return null;
  const mac = raw.slice(SEAL_HEAD.length, SEAL_HEAD.length + 43);
  if (!MAC_RE.test(mac)) return null;
  const sep = raw.slice(SEAL_PREFIX_LEN - 2, SEAL_PREFIX_LEN);
  if (sep === '",' && raw.length > SEAL_PREFIX_LEN) return { mac, json: `{${raw.slice(SEAL_PREFIX_LEN)}` };
  if (sep === '"}' && raw.length === SEAL_PREFIX_LEN) return { mac, json: '{}' };
  return null;
}

export function verifySealed(key: Uint8Array, label: SealLabel, bind: string, s: Sealed): boolean {
  return equalB64(hmac(key, label, bind, s.json), s.mac);
}

// ---- replays ----

/**
 * Remembers what was accepted until it expires, so that the same frame is not accepted twice. Memory
 * is bounded: when full, expired entries go first, then the oldest tenth. Only authenticated frames
 * are admitted, so filling it takes that many genuine frames within their lifetimes.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(private readonly max = 100_000) {}

  /** Remembers `key` until `until` (ms); false when it is already remembered (a replay). */
  admit(key: string, until: number, now = Date.now()): boolean {
    const t = this.seen.get(key);
    if (t !== undefined && t > now) return false;
    if (t !== undefined) this.seen.delete(key);
    if (this.seen.size >= this.max) this.prune(now);
    this.seen.set(key, until);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    for (const [k, t] of this.seen) if (t <= now) this.seen.delete(k);
    if (this.seen.size < this.max) return;
    let drop = Math.max(1, Math.floor(this.max / 10));
    for (const k of this.seen.keys()) {
      if (drop-- <= 0) break;
      this.seen.delete(k);
    }
  }
}
