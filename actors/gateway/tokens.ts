// Access credentials: an HS256 JWT (made and checked with `jose`) plus its request key (see
// actors/credential.ts). Claims: iss = aud = "hway", sub = account, perm, jti, iat, exp; the header's
// `kid` names the secret, so a node can verify tokens of previous secrets while it issues under the
// new one. A token lives at most `maxTtlSec` (30 days by default).
//
// Verification is cached per token until it expires or is revoked. A revocation is stored in Redis
// and broadcast on a channel: every node drops its cached entry when the message arrives, clears its
// whole cache when its subscription reconnects (messages sent meanwhile are lost), and re-checks the
// revocation list for a cached entry older than `recheckMs` (1 s) — so a revocation is in force on
// every node within 1 s even if the broadcast is lost. A node remembers every revocation it has seen
// until the token would have expired, so deleting the Redis entry does not lift it there. The secret,
// tokens and request keys are never logged.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { SignJWT, jwtVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { HwayError } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { backoff, connect, isConnectionError, nodeConnection, unavailable, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { deriveRequestKey, formatCredential, keyId, type Credential } from '../credential.js';
import { auditKey } from '../audit/entry.js';
import { ACCOUNT_RE } from './frames.js';
import { GwKeys } from './keys.js';

/** `iss` and `aud` of every token: a JWT made for another system with the same secret is refused. */
export const TOKEN_ISSUER = 'hway';
export const TOKEN_AUDIENCE = 'hway';
/** Longest lifetime of a token unless configured otherwise. */
export const DEFAULT_MAX_TTL_SEC = 30 * 86400;

export { PERMS, isPerm, parseTtl, requirePerm, type IssuedToken, type Perm, type TokenClaims } from './perms.js';
import { PERMS, isPerm, parseTtl, type IssuedToken, type Perm, type TokenClaims } from './perms.js';

export interface TokenServiceOptions {
  redis: RedisSource;
  /** HS256 key, at least 32 bytes. Default: env HWAY_TOKEN_SECRET. New tokens are issued under it. */
  secret?: string | Uint8Array;
  /** Earlier secrets whose tokens still verify (rotation). Default: env HWAY_TOKEN_SECRET_PREVIOUS, comma-separated. */
  previousSecrets?: Array<string | Uint8Array>;
  /** Longest token lifetime accepted at issue and at verification (s). Default: env HWAY_TOKEN_MAX_TTL or 30 days. */
  maxTtlSec?: number;
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

/** A verified JWT with its request key: what a node needs to check a request's MAC and sign its outcome. */
export interface Authenticated {
  claims: TokenClaims;
  requestKey: Uint8Array;
}

function secretBytes(secret: string | Uint8Array | undefined): Uint8Array {
  if (secret === undefined) throw new HwayError('E_BAD_INPUT', 'no token secret configured (HWAY_TOKEN_SECRET)', { permanent: true });
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  if (key.length < 32) throw new HwayError('E_BAD_INPUT', 'the token secret must be at least 32 bytes', { permanent: true });
  return key;
}

/** The key id in a JWT's header ('' when there is none or the header is unreadable). */
function kidOf(jwt: string): string {
  try {
    const kid = decodeProtectedHeader(jwt).kid;
    return typeof kid === 'string' ? kid : '';
  } catch {
    return '';
  }
}

const unauthorized = (message: string): HwayError => new HwayError('E_UNAUTHORIZED', message, { permanent: true });

export class TokenService {
  private readonly key: Uint8Array;
  private readonly kid: string;
  /** Every secret that verifies, by key id (the current one included). */
  private readonly keyring = new Map<string, Uint8Array>();
  private readonly maxTtlSec: number;
  /** Revocations this node has seen, kept until the token's expiry (s). */
  private readonly revokedSeen = new Map<string, number>();
  private readonly requestKeys = new Map<string, Uint8Array>();
  private readonly nodeCreds = new Map<string, { cred: Credential; exp: number }>();
  private readonly keys: GwKeys;
  private readonly conn: Redis;
  private sub: Redis | undefined;
  private readonly cache = new Map<string, Cached>();
  private readonly byJti = new Map<string, Set<string>>();
  private readonly recheckMs: number;
  private readonly maxCached: number;
  private readonly log: Logger;
  private ready: Promise<void> = Promise.resolve();

  constructor(opts: TokenServiceOptions) {
    this.key = secretBytes(opts.secret ?? process.env.HWAY_TOKEN_SECRET);
    this.kid = keyId(this.key);
    this.keyring.set(this.kid, this.key);
    const previous = opts.previousSecrets ?? (process.env.HWAY_TOKEN_SECRET_PREVIOUS ?? '').split(',').filter((x) => x !== '');
    for (const p of previous) {
      const k = secretBytes(p);
      this.keyring.set(keyId(k), k);
    }
    this.maxTtlSec = opts.maxTtlSec ?? (process.env.HWAY_TOKEN_MAX_TTL ? parseTtl(process.env.HWAY_TOKEN_MAX_TTL) : DEFAULT_MAX_TTL_SEC);
    if (!(this.maxTtlSec > 0)) throw new HwayError('E_BAD_INPUT', 'the maximum token lifetime must be positive', { permanent: true });
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
      sub.on('message', (_ch: string, msg: string) => this.sawRevocation(msg));
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

  /**
   * Issues a credential (`<jwt>.<request key>`, returned as `token`): the only time its request key
   * leaves the nodes. E_BAD_INPUT for a lifetime past the maximum.
   */
  async issue(p: { account: string; perm: Perm; ttlSec: number }): Promise<{ token: string; jti: string; exp: number }> {
    if (!ACCOUNT_RE.test(p.account)) throw new HwayError('E_BAD_INPUT', 'account must be 1-64 characters of A-Z a-z 0-9 . _ -', { permanent: true });
    if (!isPerm(p.perm)) throw new HwayError('E_BAD_INPUT', `perm must be one of ${PERMS.join(', ')}`, { permanent: true });
    if (!(p.ttlSec > 0)) throw new HwayError('E_BAD_INPUT', 'ttl must be positive', { permanent: true });
    if (p.ttlSec > this.maxTtlSec) throw new HwayError('E_BAD_INPUT', `ttl is past the maximum token lifetime (${this.maxTtlSec} s)`, { permanent: true });
    const jti = randomUUID();
    const { cred, exp } = await this.mint(p.account, p.perm, jti, Math.ceil(p.ttlSec));
    await this.redis((c) => c.hset(this.keys.tokensIssued(), jti, JSON.stringify({ account: p.account, perm: p.perm, exp })));
    this.log.debug('token issued', { jti, account: p.account, perm: p.perm, exp });
    return { token: formatCredential(cred), jti, exp };
  }

  /** Checks signature, key id, issuer, audience, lifetime, expiry, claims and revocation; E_UNAUTHORIZED if any fails. */
  async verifyToken(tokenOrCredential: string): Promise<TokenClaims> {
    if (typeof tokenOrCredential !== 'string' || tokenOrCredential.length === 0) throw unauthorized('a token is required');
    // A whole credential is accepted here too (its JWT is what is checked).
    const token = tokenOrCredential.split('.').length === 4 ? tokenOrCredential.slice(0, tokenOrCredential.lastIndexOf('.')) : tokenOrCredential;
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.claims.exp * 1000 <= now) {
        this.forget(token, hit.claims.jti);
        throw unauthorized('token expired');
      }
      if (this.revokedSeen.has(hit.claims.jti)) throw unauthorized('token revoked');
      if (now - hit.checkedAt < this.recheckMs) return hit.claims;
      if (await this.isRevoked(hit.claims.jti, hit.claims.exp)) {
        this.forget(token, hit.claims.jti);
        throw unauthorized('token revoked');
      }
      hit.checkedAt = Date.now();
      return hit.claims;
    }
    const claims = await this.verifySignature(token);
    const checkedAt = Date.now();
    if (this.revokedSeen.has(claims.jti) || (await this.isRevoked(claims.jti, claims.exp))) throw unauthorized('token revoked');
    this.remember(token, { claims, checkedAt });
    return claims;
  }

  /** verifyToken, plus the token's request key (derived under the secret that signed it). */
  async authenticate(jwt: string): Promise<Authenticated> {
    const claims = await this.verifyToken(jwt);
    let requestKey = this.requestKeys.get(claims.jti);
    if (requestKey === undefined) {
      requestKey = deriveRequestKey(this.keyring.get(kidOf(jwt))!, claims.jti);
      if (this.requestKeys.size >= this.maxCached) this.requestKeys.delete(this.requestKeys.keys().next().value!);
      this.requestKeys.set(claims.jti, requestKey);
    }
    return { claims, requestKey };
  }

  /**
   * A short-lived credential the node itself uses to act for `account` on a path the account's own
   * credential already authorized (the gateway's vault signers run a vault:sign task for the
   * producer). Only its JWT and MACs reach Redis, like any producer's; it is charged to the account's
   * rate limit like any other request. Its id starts with "node:" and it is not listed among issued tokens.
   */
  async nodeCredential(account: string, perm: Perm): Promise<Credential> {
    const key = `${account}\u0000${perm}`;
    const hit = this.nodeCreds.get(key);
    const now = Math.floor(Date.now() / 1000);
    if (hit !== undefined && hit.exp - now > 60) return hit.cred;
    const minted = await this.mint(account, perm, `node:${randomUUID()}`, 300);
    this.nodeCreds.set(key, minted);
    return minted.cred;
  }

  /** The audit log's MAC keys: the current secret's (entries are made with it) and every known one's, by key id. */
  auditKeys(): { kid: string; key: Uint8Array; all: Map<string, Uint8Array> } {
    const all = new Map([...this.keyring].map(([kid, secret]) => [kid, auditKey(secret)] as const));
    return { kid: this.kid, key: all.get(this.kid)!, all };
  }

  /** Revoke by id; every node refuses the token within 1 s. Resolves false if the id was never issued here. */
  async revoke(jti: string): Promise<boolean> {
    const rec = await this.redis((c) => c.hget(this.keys.tokensIssued(), jti));
    let exp = Math.floor(Date.now() / 1000) + this.maxTtlSec;
    if (rec) exp = (JSON.parse(rec) as { exp: number }).exp;
    await this.redis(async (c) => {
      await c.hset(this.keys.tokensRevoked(), jti, String(exp));
      await c.publish(this.keys.revokedChannel(), `${jti} ${exp}`);
    });
    this.noteRevoked(jti, exp);
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
    this.requestKeys.clear();
    await Promise.all(
      [this.conn, this.sub].map(async (c) => {
        if (!c) return;
        if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
        else c.disconnect();
      }),
    );
  }

  // ---- internals ----

  private async isRevoked(jti: string, exp: number): Promise<boolean> {
    const revoked = (await this.redis((c) => c.hexists(this.keys.tokensRevoked(), jti))) === 1;
    if (revoked) this.noteRevoked(jti, exp);
    return revoked;
  }

  /** A broadcast `<jti> <exp>`: forget the cached verification and remember the revocation. */
  private sawRevocation(msg: string): void {
    const [jti, exp] = msg.split(' ');
    if (!jti) return;
    const e = Number(exp);
    this.noteRevoked(jti, Number.isFinite(e) && e > 0 ? e : Math.floor(Date.now() / 1000) + this.maxTtlSec);
  }

  private noteRevoked(jti: string, exp: number): void {
    this.drop(jti);
    this.requestKeys.delete(jti);
    const now = Date.now() / 1000;
    // Bounded: expired revocations are pruned whenever the memory grows past the cache size.
    if (this.revokedSeen.size >= this.maxCached) for (const [j, x] of this.revokedSeen) if (x <= now) this.revokedSeen.delete(j);
    if (exp > now) this.revokedSeen.set(jti, exp);
  }

  private async mint(account: string, perm: Perm, jti: string, ttlSec: number): Promise<{ cred: Credential; exp: number }> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + ttlSec;
    const jwt = await new SignJWT({ perm })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: this.kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(account)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { cred: { jwt, requestKey: deriveRequestKey(this.key, jti) }, exp };
  }

  private async verifySignature(token: string): Promise<TokenClaims> {
    const key = this.keyring.get(kidOf(token));
    if (key === undefined) throw unauthorized('token is not valid (unknown key id)');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw unauthorized('token expired');
      throw unauthorized('token is not valid');
    }
    const { sub, perm, jti, exp, iat } = payload;
    if (typeof sub !== 'string' || !ACCOUNT_RE.test(sub) || !isPerm(perm) || typeof jti !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') {
      throw unauthorized('token claims are malformed');
    }
    if (exp - iat > this.maxTtlSec) throw unauthorized('token lives longer than the maximum token lifetime');
    return { account: sub, perm, jti, exp };
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
