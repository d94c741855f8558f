// The node's side of frame authentication (frame-auth.ts), when auth is on: producer requests and
// wallet hellos are checked against the MAC under their token's request key, and frames to and from
// a wallet connection are sealed and checked under the connection's frame key.
//
// Any node may have to talk to any connection, so a connection's frame key must be derivable
// everywhere: its record (conninfo, field `_auth`) keeps the wallet's JWT and the two nonces of round
// 0 — none secret alone — and a node derives the key through TokenService.authenticate, then caches it.
// The record is in Redis, so what it says is checked before use: the JWT must verify and belong to the
// account the node is acting for, with permission "sign". A record rewritten by someone else (even
// with a JWT of their own account) therefore yields a key the wallet does not share, or is refused:
// frames go nowhere useful and answers do not verify, which is a denial of service and nothing more.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import type { ConnFrame, RequestFrame, ToWalletFrame } from './frames.js';
import { CONTROL_FRAME_TTL_MS, GW_LABEL, ReplayGuard, frameKey, seal, verifyHelloMac, verifyRequestMac } from './frame-auth.js';
import type { GwKeys } from './keys.js';
import { requirePerm, type Authenticated, type TokenService } from './tokens.js';

/** The conninfo field holding what a connection's frame key is derived from. */
export const CONN_AUTH_FIELD = '_auth';

/** What a frame key is derived from: the wallet's JWT and round 0's nonces (hex). */
export interface ConnAuthRecord {
  j: string;
  w: string;
  g: string;
}

/**
 * A frame for a wallet as sent: sealed under the connection's frame key when there is one (auth on),
 * control frames stamped with a random `n` and an expiry, so that each is unique and short-lived.
 */
export function walletWire(conn: string, f: ToWalletFrame, fk: Uint8Array | undefined): string {
  if (!fk) return JSON.stringify(f);
  const stamped = f.t === 'sign' || f.t === 'proof' ? f : { ...f, n: randomBytes(16).toString('hex'), exp: Date.now() + CONTROL_FRAME_TTL_MS };
  return seal(fk, GW_LABEL.walletFrame, conn, JSON.stringify(stamped));
}

const unauthorized = (message: string): HwayError => new HwayError('E_UNAUTHORIZED', message, { permanent: true });

/**
 * E_UNAUTHORIZED for a frame whose token is fine but whose MAC, deadline or freshness is not: what a
 * genuine sender never sends, so worth a warning (a bad or revoked token is the ordinary kind).
 */
export class FrameRefused extends HwayError {
  constructor(message: string) {
    super('E_UNAUTHORIZED', message, { permanent: true });
  }
}
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const HEX32 = /^[0-9a-f]{64}$/;

export class NodeAuth {
  private readonly requests = new ReplayGuard();
  private readonly frameKeys = new Map<string, { fk: Uint8Array; account: string }>();

  constructor(
    readonly tokens: TokenService,
    private readonly redis: Redis,
    private readonly keys: GwKeys,
    private readonly maxCached = 10_000,
  ) {}

  /**
   * A producer request: its JWT, its MAC (id, op, reply, args and deadline), its deadline and that
   * this node has not accepted it before. Every refusal is E_UNAUTHORIZED (or E_REDIS_UNAVAILABLE when
   * a revocation could not be checked) and is answered without a MAC: no key is known for it.
   */
  async request(req: RequestFrame): Promise<Authenticated> {
    if (req.jwt === undefined) throw unauthorized('a token is required');
    const a = await this.tokens.authenticate(req.jwt);
    if (req.mac === undefined || !verifyRequestMac(a.requestKey, req, req.mac)) throw new FrameRefused('the request MAC does not verify');
    const now = Date.now();
    if (req.deadline <= now) throw new FrameRefused('the request is past its deadline');
    // A replay to another node is not seen here; it gets the same answer, on the producer's channel,
    // to a request the producer made: it changes nothing but the rate-limit count.
    if (!this.requests.admit(req.mac, req.deadline, now)) throw new FrameRefused('the request was already accepted (a replay)');
    return a;
  }

  /** A hello or add frame: its JWT and its MAC (connection, kind, nonce, round, targets). */
  async hello(f: Extract<ConnFrame, { t: 'hello' | 'add' }>): Promise<Authenticated> {
    if (f.jwt === undefined) throw unauthorized('a token is required');
    const a = await this.tokens.authenticate(f.jwt);
    const round = f.t === 'hello' ? 0 : f.round;
    if (f.mac === undefined || !verifyHelloMac(a.requestKey, { conn: f.conn, kind: f.kind, nonce: f.nonce, round, targets: f.targets }, f.mac)) {
      throw new FrameRefused('the hello MAC does not verify');
    }
    return a;
  }

  /**
   * The frame key of round 0 from a record (a challenge's, or the connection's): the JWT must verify
   * and be `account`'s with permission "sign".
   */
  async derive(conn: string, rec: ConnAuthRecord, account: string): Promise<Uint8Array> {
    if (typeof rec.j !== 'string' || !HEX32.test(rec.w) || !HEX32.test(rec.g)) throw unauthorized('the connection record is malformed');
    const a = await this.tokens.authenticate(rec.j);
    if (a.claims.account !== account) throw unauthorized('the connection record names a token of another account');
    requirePerm(a.claims, 'sign');
    return frameKey(a.requestKey, conn, unhex(rec.w), unhex(rec.g));
  }

  /** Keeps a new connection's frame key here (gw_register.lua wrote its record with the connection). */
  cache(conn: string, fk: Uint8Array, account: string): void {
    this.remember(conn, fk, account);
  }

  /**
   * The frame key of a live connection: from this node's cache, else derived from the connection's
   * record. `account`: the account the node acts for (refused if the connection's token is another's).
   */
  async frameKey(conn: string, account: string): Promise<Uint8Array> {
    const hit = this.frameKeys.get(conn);
    if (hit) {
      if (hit.account !== account) throw unauthorized('the connection belongs to another account');
      return hit.fk;
    }
    const raw = await this.redis.hget(this.keys.connInfo(conn), CONN_AUTH_FIELD);
    if (raw === null) throw new HwayError('E_NO_WALLET', 'the connection has no key record (gone, or not yet registered)');
    let rec: ConnAuthRecord;
    try {
      rec = JSON.parse(raw) as ConnAuthRecord;
    } catch {
      throw unauthorized('the connection record is malformed');
    }
    const fk = await this.derive(conn, rec, account);
    this.remember(conn, fk, account);
    return fk;
  }

  /** The cached frame key of a connection, if this node has one (for best-effort error frames). */
  peek(conn: string): Uint8Array | undefined {
    return this.frameKeys.get(conn)?.fk;
  }

  /**
   * A connection's frame key where no producer account is at hand (an eviction): for the account its
   * record names. Undefined when it cannot be had (the frame then goes unsealed, and is refused).
   */
  async bestEffortKey(conn: string): Promise<Uint8Array | undefined> {
    const hit = this.frameKeys.get(conn);
    if (hit) return hit.fk;
    try {
      const account = await this.redis.hget(this.keys.connInfo(conn), '_account');
      return account === null ? undefined : await this.frameKey(conn, account);
    } catch {
      return undefined;
    }
  }

  forget(conn: string): void {
    this.frameKeys.delete(conn);
  }

  private remember(conn: string, fk: Uint8Array, account: string): void {
    if (this.frameKeys.size >= this.maxCached) this.frameKeys.delete(this.frameKeys.keys().next().value!);
    this.frameKeys.set(conn, { fk, account });
  }
}
