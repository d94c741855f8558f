// Access tokens: HS256 JWTs made and checked with `jose`. Claims: sub = account, perm, exp, jti.
// Verification is cached per token until it expires or is revoked. A revocation is stored in Redis
// and broadcast on a channel: every node drops its cached entry when the message arrives, clears its
// whole cache when its subscription reconnects (messages sent meanwhile are lost), and re-checks the
// revocation list for a cached entry older than `recheckMs` (1 s) — so a revocation is in force on
// every node within 1 s even if the broadcast is lost. The secret and tokens are never logged.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { HwayError } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { backoff, connect, isConnectionError, nodeConnection, unavailable, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { ACCOUNT_RE } from './frames.js';
import { GwKeys } from './keys.js';

export const PERMS = ['read', 'write', 'sign', 'admin'] as const;
export type Perm = (typeof PERMS)[number];

export interface TokenClaims {
  account: string;
  perm: Perm;
  jti: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface IssuedToken {
  jti: string;
  account: string;
  perm: Perm;
  exp: number;
  revoked: boolean;
}

/** Throws E_FORBIDDEN unless `claims` grant at least `needed` (read < write < sign < admin). */
export function requirePerm(claims: Pick<TokenClaims, 'perm'>, needed: Perm): void {
  if (PERMS.indexOf(claims.perm) < PERMS.indexOf(needed)) {
    throw new HwayError('E_FORBIDDEN', `this token has permission "${claims.perm}"; "${needed}" is needed`, { permanent: true });
  }
}

export function isPerm(x: unknown): x is Perm {
  return typeof x === 'string' && (PERMS as readonly string[]).includes(x);
}

/** "90s", "15m", "24h", "30d" or plain seconds → seconds. */
export function parseTtl(s: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(s.trim());
  if (!m) throw new HwayError('E_BAD_INPUT', `bad duration "${s}" (use e.g. 90s, 15m, 24h, 30d)`, { permanent: true });
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
  if (n <= 0) throw new HwayError('E_BAD_INPUT', 'duration must be positive', { permanent: true });
  return n;
}

export interface TokenServiceOptions {
  redis: RedisSource;
  /** HS256 key, at least 32 bytes. Default: env HWAY_TOKEN_SECRET. */
  secret?: string | Uint8Array;
  prefix?: string;
  /** Re-check the revocation list for cached entries older than this (ms). Default 1000. */
  recheckMs?: number;
  /** Listen for revocations (nodes). Off for one-shot CLI use. Default true. */
  subscribe?: boolean;
  /** Most cached verifications. Default 10000. */
  maxCached?: number;
  logger?: Logger;
}

interface Cached {
  claims: TokenClaims;
  checkedAt: number;
}

function secretBytes(secret: string | Uint8Array | undefined): Uint8Array {
  if (secret === undefined) throw new HwayError('E_BAD_INPUT', 'no token secret configured (HWAY_TOKEN_SECRET)', { permanent: true });
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  if (key.length < 32) throw new HwayError('E_BAD_INPUT', 'the token secret must be at least 32 bytes', { permanent: true });
  return key;
}

const unauthorized = (message: string): HwayError => new HwayError('E_UNAUTHORIZED', message, { permanent: true });

export class TokenService {
  private readonly key: Uint8Array;
  private readonly keys: GwKeys;
  private readonly conn: Redis;
  private sub: Redis | undefined;
  private readonly cache = new Map<string, Cached>();
  private readonly internal = new Map<string, { token: string; exp: number }>();
  private readonly byJti = new Map<string, Set<string>>();
  private readonly recheckMs: number;
  private readonly maxCached: number;
  private readonly log: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(opts: TokenServiceOptions) {
    this.key = secretBytes(opts.secret ?? process.env.HWAY_TOKEN_SECRET);
    this.keys = new GwKeys(opts.prefix);
    this.recheckMs = opts.recheckMs ?? 1000;
    this.maxCached = opts.maxCached ?? 10_000;
    this.log = opts.logger ?? makeLogger('tokens');
    this.conn = connect(opts.redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      enableAutoPipelining: true,
      retryStrategy: backoff,
    });
    this.conn.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    if (opts.subscribe ?? true) {
      const sub = nodeConnection(opts.redis, 'hway-tokens-sub');
      this.sub = sub;
      sub.on('error', (e: Error) => this.log.debug('redis error (subscriber)', { error: e.message }));
      sub.on('message', (_ch: string, jti: string) => this.drop(jti));
      let first = true;
      sub.on('ready', () => {
        // Broadcasts sent while we were away are lost: forget everything cached.
        if (!first) this.clear();
        first = false;
      });
      this.ready = subscribeWhenReady(sub, [this.keys.revokedChannel()], 5000);
      this.ready.catch(() => undefined);
    }
  }

  /** Resolves once revocation broadcasts are being received. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  async issue(p: { account: string; perm: Perm; ttlSec: number }): Promise<{ token: string; jti: string; exp: number }> {
    if (!ACCOUNT_RE.test(p.account)) throw new HwayError('E_BAD_INPUT', 'account must be 1-64 characters of A-Z a-z 0-9 . _ -', { permanent: true });
    if (!isPerm(p.perm)) throw new HwayError('E_BAD_INPUT', `perm must be one of ${PERMS.join(', ')}`, { permanent: true });
    if (!(p.ttlSec > 0)) throw new HwayError('E_BAD_INPUT', 'ttl must be positive', { permanent: true });
    const jti = randomUUID();
    const exp = Math.floor(Date.now() / 1000) + Math.ceil(p.ttlSec);
    const token = await new SignJWT({ perm: p.perm })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(p.account)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    await this.redis((c) => c.hset(this.keys.tokensIssued(), jti, JSON.stringify({ account: p.account, perm: p.perm, exp })));
    this.log.debug('token issued', { jti, account: p.account, perm: p.perm, exp });
    return { token, jti, exp };
  }

  /** Checks signature, expiry, claims and revocation; E_UNAUTHORIZED if any fails. */
  async verifyToken(token: string): Promise<TokenClaims> {
    if (typeof token !== 'string' || token.length === 0) throw unauthorized('a token is required');
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.claims.exp * 1000 <= now) {
        this.forget(token, hit.claims.jti);
        throw unauthorized('token expired');
      }
      if (now - hit.checkedAt < this.recheckMs) return hit.claims;
      if (await this.isRevoked(hit.claims.jti)) {
        this.forget(token, hit.claims.jti);
        throw unauthorized('token revoked');
      }
      hit.checkedAt = Date.now();
      return hit.claims;
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp', 'jti'] }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthorized('token expired');
      throw unauthorized('token is not valid');
    }
    const { sub, perm, jti, exp } = payload;
    if (typeof sub !== 'string' || !ACCOUNT_RE.test(sub) || !isPerm(perm) || typeof jti !== 'string' || typeof exp !== 'number') {
      throw unauthorized('token claims are malformed');
    }
    const checkedAt = Date.now();
    if (await this.isRevoked(jti)) throw unauthorized('token revoked');
    const claims: TokenClaims = { account: sub, perm, jti, exp };
    this.remember(token, { claims, checkedAt });
    return claims;
  }

  /**
   * A short-lived token the node itself uses to act for `account` on a path the account's own token
   * already authorized (the gateway's vault signers run a vault:sign task for the producer). It is
   * not listed among issued tokens; its id starts with "internal:" so rate limits, already charged to
   * the producer's token, are not charged twice.
   */
  async mintInternal(account: string, perm: Perm): Promise<string> {
    const key = `${account}\u0000${perm}`;
    const hit = this.internal.get(key);
    const now = Math.floor(Date.now() / 1000);
    if (hit !== undefined && hit.exp - now > 60) return hit.token;
    const exp = now + 300;
    const token = await new SignJWT({ perm })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(account)
      .setJti(`internal:${randomUUID()}`)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key);
    this.internal.set(key, { token, exp });
    return token;
  }

  /** Revoke by id; every node refuses the token within 1 s. Resolves false if the id was never issued here. */
  async revoke(jti: string): Promise<boolean> {
    const rec = await this.redis((c) => c.hget(this.keys.tokensIssued(), jti));
    let exp = Math.floor(Date.now() / 1000) + 366 * 86400;
    if (rec) exp = (JSON.parse(rec) as { exp: number }).exp;
    await this.redis(async (c) => {
      await c.hset(this.keys.tokensRevoked(), jti, String(exp));
      await c.publish(this.keys.revokedChannel(), jti);
    });
    this.drop(jti);
    this.log.debug('token revoked', { jti });
    return rec !== null;
  }

  /** Issued tokens (never the tokens themselves); expired ones are pruned. */
  async list(): Promise<IssuedToken[]> {
    const [issued, revoked] = await this.redis((c) => Promise.all([c.hgetall(this.keys.tokensIssued()), c.hgetall(this.keys.tokensRevoked())]));
    const now = Date.now() / 1000;
    const out: IssuedToken[] = [];
    const expired: string[] = [];
    for (const [jti, raw] of Object.entries(issued)) {
      const r = JSON.parse(raw) as { account: string; perm: Perm; exp: number };
      if (r.exp < now) {
        expired.push(jti);
        continue;
      }
      out.push({ jti, account: r.account, perm: r.perm, exp: r.exp, revoked: jti in revoked });
    }
    if (expired.length) {
      // A revoked entry is only needed until the token would have expired anyway.
      await this.redis(async (c) => {
        await c.hdel(this.keys.tokensIssued(), ...expired);
        await c.hdel(this.keys.tokensRevoked(), ...expired);
      });
    }
    return out.sort((a, b) => a.exp - b.exp || a.jti.localeCompare(b.jti));
  }

  async close(): Promise<void> {
    this.clear();
    await Promise.all(
      [this.conn, this.sub].map(async (c) => {
        if (!c) return;
        if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
        else c.disconnect();
      }),
    );
  }

  // ---- internals ----

  private async isRevoked(jti: string): Promise<boolean> {
    return (await this.redis((c) => c.hexists(this.keys.tokensRevoked(), jti))) === 1;
  }

  private async redis<T>(f: (c: Redis) => Promise<T>): Promise<T> {
    try {
      await whenReady(this.conn, 1000);
      return await f(this.conn);
    } catch (e) {
      // Fail closed: without Redis we cannot know whether a token was revoked.
      if (e instanceof HwayError) throw e;
      if (isConnectionError(e) || (e instanceof Error && /offline queue/i.test(e.message))) throw unavailable(e);
      throw new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
    }
  }

  private remember(token: string, c: Cached): void {
    if (this.cache.size >= this.maxCached) {
      const first = this.cache.entries().next();
      if (!first.done) this.forget(first.value[0], first.value[1].claims.jti);
    }
    this.cache.set(token, c);
    let s = this.byJti.get(c.claims.jti);
    if (!s) this.byJti.set(c.claims.jti, (s = new Set()));
    s.add(token);
  }

  private forget(token: string, jti: string): void {
    this.cache.delete(token);
    const s = this.byJti.get(jti);
    if (s) {
      s.delete(token);
      if (s.size === 0) this.byJti.delete(jti);
    }
  }

  private drop(jti: string): void {
    const s = this.byJti.get(jti);
    if (!s) return;
    for (const t of s) this.cache.delete(t);
    this.byJti.delete(jti);
  }

  private clear(): void {
    this.cache.clear();
    this.byJti.clear();
  }
}
