// The node side of the signer gateway. Every node runs one; together they share all routing state in
// Redis, so any node can serve any producer and answer any wallet.
//
//   wallet ──XADD <p>:gw:hello──▶ one node (group "gw")          handshake: hello → challenge → prove → welcome
//   wallet ◀──SPUBLISH <p>:gw:to:<conn>── node                  challenges, sign/proof requests, cancels
//   wallet ──PUBLISH <p>:gw:reply:<node>──▶ node                 answers
//   producer ──LPUSH <p>:gw:req[:<node>]──▶ node (BLMPOP)         auth, rate limit, route, deadline
//   producer ◀──PUBLISH <p>:gw:res:<client>── node
//
// Why not the ingress stream: a durable task costs an enqueue script, a fetch, a completion script
// and a result write — several round trips and a partition owner in between — for a request whose
// answer is worthless after its deadline and which is safe to ask again (signing is idempotent for
// the caller). A list popped by any node gives exactly-once pickup, no node discovery, and leaves a
// request for another node if one dies before popping it; auth, limits and deadlines still apply.
//
// Redis is untrusted (DESIGN.md): with auth on, every one of these frames is authenticated by its
// sender (frame-auth.ts, node-auth.ts) and nothing in Redis is believed unchecked — a route's public
// key must match its address, a connection's key record must verify for the account.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError, isHwayError, type ErrorCode } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { addressMatchesKey, parseAddress } from '../../enclaves/addresses.js';
import { backoff, connect, isCluster, nodeConnection, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { listenerCounts, sendToConn } from './wallet-channel.js';
import {
  MINER_RE,
  MAX_SIGN_BYTES,
  bad,
  connIdOf,
  parseConnFrame,
  parseJson,
  parseRequest,
  parseWalletReply,
  type ConnFrame,
  type JsonValue,
  type RequestFrame,
  type ResponseFrame,
  type SignMeta,
  type ToWalletFrame,
  type WalletKind,
  type WalletReply,
} from './frames.js';
import { GwKeys, HELLO_GROUP, type RouteKind } from './keys.js';
import { Charge, DEFAULT_LIMITS, RateLimitedError, RateLimiter, type RateLimits } from './ratelimit.js';
import { GW_LABEL, challengeDigest, frameKey, seal, unseal, verifySealed, type Sealed } from './frame-auth.js';
import { FrameRefused, NodeAuth, walletWire, type ConnAuthRecord } from './node-auth.js';
import { knownDigest, recoverKey, routeTargets, routingAddress } from './signatures.js';
import type { AuditFields } from '../audit/entry.js';
import { gatewaySignEntry } from '../audit/gateway-entry.js';
import { listConns, loadRoute, type RouteInfo } from './route-store.js';
import { Router, type Route, type RouteConn } from './router.js';
import { runScript } from '../../storage/scripts.js';
import { nobleVerifier, wasmVerifier, type Verifier } from './verify.js';

export { nobleVerifier, routingAddress };
import { TokenService, requirePerm, type Perm, type TokenClaims } from './tokens.js';

/** The runtime's own vaults as signers (given by the vault runtime). */
export interface VaultSigners {
  /** The vault of `account` holding `address` (canonical spelling), or null. */
  lookup(account: string, address: string): Promise<string | null>;
  /** Signs for `account` (the producer's, already checked by the gateway). */
  sign(vaultId: string, digest32: Uint8Array, meta: SignMeta, account: string): Promise<{ signature: Uint8Array; recovery: number }>;
}

export type { Verifier } from './verify.js';

export interface GatewayOptions {
  redis: RedisSource;
  nodeId?: string;
  prefix?: string;
  /** HS256 secret: auth is on when set (or env HWAY_TOKEN_SECRET). */
  tokenSecret?: string | Uint8Array;
  /** Appends the audit entry of each sign before its answer is released (fail closed; auth on only). */
  audit?: (f: Omit<AuditFields, 'ts' | 'node'>) => Promise<void>;
  /** Share a token service (e.g. with the vault runtime) instead of creating one. */
  tokens?: TokenService;
  vaultSigners?: VaultSigners;
  /** Signature check of raw signs; default: the enclave plugin's libsecp256k1 on this thread (verify.ts). */
  verifier?: Verifier;
  logger?: Logger;
  /** Wallet heartbeat interval; a connection is evicted after 3 missed ones. Default 2000. */
  heartbeatMs?: number;
  /** Default deadline of a producer request. Default 20 s. */
  requestTimeoutMs?: number;
  /** Longest wait for one wallet before trying the next. Default 5 s. */
  attemptTimeoutMs?: number;
  /** Requests in flight per wallet connection on this node beyond which it is skipped. Default 64. */
  maxInFlightPerWallet?: number;
  /** Producer requests handled at once by this node. Default 2000. */
  maxConcurrent?: number;
  /** How long a challenge may wait for its proof. Default 30 s. */
  challengeTtlMs?: number;
  rateLimits?: RateLimits;
  routerShards?: number;
}

export interface GatewayStats {
  requests: number;
  signed: number;
  proofs: number;
  failovers: number;
  refused: number;
  handshakes: number;
  malformed: number;
  evicted: number;
  inFlight: number;
  /** Producer requests answered, by outcome: 'ok' or the error code (E_RATE_LIMITED: refused by a rate limit). */
  outcomes: Record<string, number>;
}

export interface Gateway {
  readonly nodeId: string;
  stop(): Promise<void>;
  stats(): GatewayStats;
}

interface Pending {
  conn: string;
  /** The connection's frame key (auth on): its answer must be sealed under it. */
  fk: Uint8Array | undefined;
  resolve: (r: WalletReply & { ok: true }) => void;
  reject: (e: HwayError) => void;
  timer: NodeJS.Timeout;
}

interface NonceRecord {
  g: string;
  w: string;
  account: string;
  kind: WalletKind;
  targets: string[];
  mode: 'new' | 'add';
  /** The wallet's JWT (auth on): round 0's frame key is derived from it and the nonces. */
  j?: string;
}

/** What a handshake frame's handler learned that its error answer needs (auth on). */
interface HandshakeCtx {
  /** The key to seal answers under. */
  fk?: Uint8Array;
  /** Round 0's gatewayNonce (hex), named in round-0 answers so that the wallet can derive fk. */
  g?: string;
}

const ANON: TokenClaims = { account: 'default', perm: 'admin', jti: 'anonymous', exp: Number.MAX_SAFE_INTEGER };

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function asHwayError(e: unknown): HwayError {
  if (isHwayError(e)) return e;
  return new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
}

/** A challenge record read back from Redis (which anyone may have written): malformed is no challenge. */
function parseNonceRecord(raw: string): NonceRecord {
  const HEX32 = /^[0-9a-f]{64}$/;
  try {
    const r = JSON.parse(raw) as NonceRecord;
    const targetsOk = Array.isArray(r.targets) && r.targets.every((t) => typeof t === 'string');
    if (HEX32.test(r.g) && HEX32.test(r.w) && typeof r.account === 'string' && targetsOk && (r.mode === 'new' || r.mode === 'add')) return r;
  } catch {
    // below
  }
  throw new HwayError('E_UNAUTHORIZED', 'the pending challenge is malformed', { permanent: true });
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const g = new GatewayNode(opts);
  try {
    await g.start();
  } catch (e) {
    await g.abort();
    throw e;
  }
  return g;
}

class GatewayNode implements Gateway {
  readonly nodeId: string;
  private readonly keys: GwKeys;
  private readonly log: Logger;
  private readonly cmd: Redis;
  private readonly fast: Redis;
  private readonly sub: Redis;
  private readonly helloConn: Redis;
  private readonly reqConn: Redis;
  private readonly tokens: TokenService | undefined;
  /** Frame authentication; set exactly when auth is on. */
  private readonly auth: NodeAuth | undefined;
  private readonly ownTokens: boolean;
  private readonly limiter: RateLimiter;
  private readonly router: Router;
  private verify: Verifier = nobleVerifier;
  private closeVerifier: () => Promise<void> = async () => undefined;
  private readonly heartbeatMs: number;
  private readonly requestTimeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly maxInFlightPerWallet: number;
  private readonly maxConcurrent: number;
  private readonly challengeTtlMs: number;
  private readonly inflight = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  private readonly down = new Set<string>();
  private readonly loops: Array<Promise<void>> = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private running = false;
  private active = 0;
  private readonly outcomes: Record<string, number> = {};
  private readonly counters: Omit<GatewayStats, 'inFlight' | 'outcomes'> = { requests: 0, signed: 0, proofs: 0, failovers: 0, refused: 0, handshakes: 0, malformed: 0, evicted: 0 };

  constructor(private readonly opts: GatewayOptions) {
    this.nodeId = opts.nodeId ?? randomUUID();
    this.keys = new GwKeys(opts.prefix);
    this.log = (opts.logger ?? makeLogger('gateway')).child({ component: 'gateway', node: this.nodeId });
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 20_000;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 5000;
    this.maxInFlightPerWallet = opts.maxInFlightPerWallet ?? 64;
    this.maxConcurrent = opts.maxConcurrent ?? 2000;
    this.challengeTtlMs = opts.challengeTtlMs ?? 30_000;
    this.cmd = nodeConnection(opts.redis, `hway-gw-${this.nodeId}`);
    // The request path must not queue behind an outage: fail fast, so that limits fail closed.
    this.fast = connect(opts.redis, { connectionName: `hway-gw-fast-${this.nodeId}`, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000, enableAutoPipelining: true, retryStrategy: backoff });
    this.sub = nodeConnection(opts.redis, `hway-gw-sub-${this.nodeId}`);
    this.helloConn = nodeConnection(opts.redis, `hway-gw-hello-${this.nodeId}`);
    this.reqConn = nodeConnection(opts.redis, `hway-gw-req-${this.nodeId}`);
    for (const c of [this.cmd, this.fast, this.sub, this.helloConn, this.reqConn]) c.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    const secret = opts.tokenSecret ?? process.env.HWAY_TOKEN_SECRET;
    if (opts.tokens) {
      this.tokens = opts.tokens;
      this.ownTokens = false;
    } else {
      this.tokens = secret !== undefined && secret !== '' ? new TokenService({ redis: opts.redis, secret, prefix: this.keys.prefix, logger: this.log }) : undefined;
      this.ownTokens = true;
    }
    this.auth = this.tokens ? new NodeAuth(this.tokens, this.fast, this.keys) : undefined;
    this.limiter = new RateLimiter(this.fast, opts.rateLimits ?? DEFAULT_LIMITS, this.keys.prefix);
    this.router = new Router({ shards: opts.routerShards ?? 4, logger: this.log, load: (k) => loadRoute(this.fast, this.keys, k, this.log, this.opts.vaultSigners && ((a, t) => this.opts.vaultSigners!.lookup(a, t))) });
  }

  async start(): Promise<void> {
    await whenReady(this.fast, 5000);
    if (this.opts.verifier) this.verify = this.opts.verifier;
    else {
      const v = await wasmVerifier(this.log);
      this.verify = v.verify;
      this.closeVerifier = v.close;
    }
    await this.helloConn.xgroup('CREATE', this.keys.hello(), HELLO_GROUP, '$', 'MKSTREAM').catch((e: Error) => {
      if (!/BUSYGROUP/.test(e.message)) throw e;
    });
    this.sub.on('message', (ch: string, msg: string) => {
      if (ch === this.keys.events()) this.onEvent(msg);
      else this.onWalletReply(msg);
    });
    let first = true;
    this.sub.on('ready', () => {
      // Route events sent while the subscription was down are lost: forget every cached route.
      if (!first) this.router.invalidate('all');
      first = false;
    });
    await subscribeWhenReady(this.sub, [this.keys.toNode(this.nodeId), this.keys.events()], 5000);
    if (this.tokens) await this.tokens.whenReady();
    this.running = true;
    this.loops.push(this.helloLoop(), this.requestLoop());
    await this.announce();
    this.sweepTimer = setInterval(() => {
      void this.announce().catch(() => undefined);
      void this.sweep().catch((e: unknown) => this.log.warn('sweep failed', { error: String(e) }));
    }, this.heartbeatMs);
    this.sweepTimer.unref();
    this.log.info('gateway started', { heartbeatMs: this.heartbeatMs, auth: this.tokens !== undefined });
  }

  stats(): GatewayStats {
    return { ...this.counters, inFlight: this.pending.size, outcomes: { ...this.outcomes } };
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.cmd.zrem(this.keys.nodes(), this.nodeId).catch(() => undefined);
    // Leave no dead consumer behind in the hello stream's group.
    await this.cmd.xgroup('DELCONSUMER', this.keys.hello(), HELLO_GROUP, this.nodeId).catch(() => undefined);
    // Unblock the blocking readers: their loops notice `running` and end.
    this.helloConn.disconnect();
    this.reqConn.disconnect();
    await Promise.allSettled(this.loops);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new HwayError('E_CLOSED', 'gateway node is stopping'));
      this.pending.delete(id);
    }
    this.router.stop();
    if (this.tokens && this.ownTokens) await this.tokens.close();
    await this.closeVerifier();
    await Promise.all([this.cmd, this.fast, this.sub].map((c) => c.quit().catch(() => c.disconnect())));
    this.log.info('gateway stopped');
  }

  /** Releases everything after a failed start. */
  async abort(): Promise<void> {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const c of [this.cmd, this.fast, this.sub, this.helloConn, this.reqConn]) c.disconnect();
    await Promise.allSettled(this.loops);
    this.router.stop();
    if (this.tokens && this.ownTokens) await this.tokens.close().catch(() => undefined);
    await this.closeVerifier().catch(() => undefined);
  }

  /** Tells producers this node is serving (so that they fail fast when none is). */
  private async announce(): Promise<void> {
    const now = Date.now();
    await this.cmd.zadd(this.keys.nodes(), now + 3 * this.heartbeatMs, this.nodeId);
    await this.cmd.zremrangebyscore(this.keys.nodes(), '-inf', now - 60_000);
  }

  // ---------------------------------------------------------------- connection frames (handshake)

  private async helloLoop(): Promise<void> {
    while (this.running) {
      let res: unknown;
      try {
        // NOACK: a connection frame lost with a dying node is retried by the wallet (handshake timeout).
        res = await this.helloConn.call('XREADGROUP', 'GROUP', HELLO_GROUP, this.nodeId, 'COUNT', 64, 'BLOCK', 1000, 'NOACK', 'STREAMS', this.keys.hello(), '>');
      } catch (e) {
        if (!this.running) return;
        if (e instanceof Error && /NOGROUP/.test(e.message)) {
          await this.helloConn.xgroup('CREATE', this.keys.hello(), HELLO_GROUP, '$', 'MKSTREAM').catch(() => undefined);
        } else await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (!Array.isArray(res)) continue;
      const entries = (res as Array<[string, Array<[string, string[]]>]>)[0]?.[1] ?? [];
      await Promise.all(
        entries.map(([, fields]) => {
          const i = fields.indexOf('f');
          return this.onConnFrame(i >= 0 ? fields[i + 1] ?? '' : '');
        }),
      );
    }
  }

  private async onConnFrame(raw: string): Promise<void> {
    let parsedJson: unknown;
    let frame: ConnFrame;
    // A proof comes sealed under the connection's frame key (auth on); onProve checks the seal.
    const sealed = unseal(raw);
    try {
      parsedJson = parseJson(sealed ? sealed.json : raw);
      frame = parseConnFrame(parsedJson);
    } catch (e) {
      this.counters.malformed++;
      const conn = connIdOf(parsedJson);
      this.log.warn('malformed connection frame', { conn: conn ?? '-', error: asHwayError(e).message });
      if (conn) await this.toWallet(conn, { t: 'error', code: 'E_BAD_INPUT', message: asHwayError(e).message }, this.auth?.peek(conn));
      return;
    }
    const ctx: HandshakeCtx = {};
    try {
      switch (frame.t) {
        case 'hello':
        case 'add':
          return await this.onHello(frame, ctx);
        case 'prove':
          return await this.onProve(frame, sealed, ctx);
        case 'remove':
          return await this.onRemove(frame.conn, frame.targets);
        case 'bye':
          return await this.unregister(frame.conn, 'bye');
      }
    } catch (e) {
      const err = asHwayError(e);
      this.counters.refused++;
      this.log.warn('connection frame refused', { conn: frame.conn, frame: frame.t, code: err.code, error: err.message });
      const f: ToWalletFrame = { t: 'error', code: err.code, message: err.message };
      if (frame.t === 'add' || frame.t === 'prove') f.round = frame.round;
      if (frame.t === 'hello') f.round = 0;
      if (ctx.g !== undefined && f.round === 0) f.gatewayNonce = ctx.g;
      // Unsealed when the sender could not be authenticated: the wallet believes only E_UNAUTHORIZED then.
      await this.toWallet(frame.conn, f, ctx.fk ?? this.auth?.peek(frame.conn));
    }
  }

  private async onHello(f: Extract<ConnFrame, { t: 'hello' | 'add' }>, ctx: HandshakeCtx): Promise<void> {
    const a = this.auth ? await this.auth.hello(f) : undefined;
    const claims = a?.claims ?? ANON;
    const round = f.t === 'hello' ? 0 : f.round;
    const mode = f.t === 'hello' ? 'new' : 'add';
    const gatewayNonce = randomBytes(32);
    const g = hex(gatewayNonce);
    // Authenticated: every answer from here on is sealed — round 0 under the key this nonce makes
    // (named in the answer), later rounds under the connection's.
    const authRec: ConnAuthRecord | undefined = a && round === 0 ? { j: f.jwt!, w: f.nonce, g } : undefined;
    if (a && round === 0) Object.assign(ctx, { g, fk: frameKey(a.requestKey, f.conn, unhex(f.nonce), gatewayNonce) });
    else if (a) ctx.fk = await this.auth!.frameKey(f.conn, claims.account);
    requirePerm(claims, 'sign');
    if (f.targets.length === 0) throw bad('no addresses or miners announced');
    if (f.kind === 'proof') {
      for (const m of f.targets) if (!MINER_RE.test(m)) throw bad(`"${m}" is not a miner id (f0…/t0…)`);
      // A miner id has no key to prove: the token's account is the authority.
      const routes = f.targets.map((m) => ({ key: this.keys.route('miner', claims.account, m), info: { a: m } as RouteInfo }));
      await this.register(f.conn, claims.account, 'proof', mode, routes, authRec, ctx.fk);
      this.counters.handshakes++;
      const welcome: ToWalletFrame = { t: 'welcome', round, account: claims.account, accepted: f.targets, refused: [], heartbeatMs: this.heartbeatMs };
      await this.toWallet(f.conn, authRec ? { ...welcome, gatewayNonce: g } : welcome, ctx.fk);
      return;
    }
    for (const t of f.targets) parseAddress(t); // E_BAD_INPUT before any state is created
    const rec: NonceRecord = { g, w: f.nonce, account: claims.account, kind: 'wallet', targets: f.targets, mode, ...(a ? { j: f.jwt! } : {}) };
    // One challenge per (connection, round), never overwritten, consumed once (GETDEL in onProve).
    const ok = await this.cmd.set(this.keys.nonce(f.conn, round), JSON.stringify(rec), 'PX', this.challengeTtlMs, 'NX');
    if (ok !== 'OK') throw new HwayError('E_FORBIDDEN', 'this connection round already has a challenge', { permanent: true });
    await this.toWallet(f.conn, { t: 'challenge', round, gatewayNonce: g, account: claims.account }, ctx.fk);
  }

  private async onProve(f: Extract<ConnFrame, { t: 'prove' }>, sealed: Sealed | null, ctx: HandshakeCtx): Promise<void> {
    const raw = (await this.cmd.call('GETDEL', this.keys.nonce(f.conn, f.round))) as string | null;
    if (!raw) throw new HwayError('E_UNAUTHORIZED', 'no pending challenge for this connection (expired or already used)', { permanent: true });
    const rec = parseNonceRecord(raw);
    if (this.auth) {
      // The proof must come from the holder of the frame key: round 0's from this challenge's record
      // (whose JWT must be of the account), a later round's the connection's.
      ctx.fk = rec.mode === 'new' ? await this.auth.derive(f.conn, { j: rec.j ?? '', w: rec.w, g: rec.g }, rec.account) : await this.auth.frameKey(f.conn, rec.account);
      if (!sealed || !verifySealed(ctx.fk, GW_LABEL.walletReply, f.conn, sealed)) throw new HwayError('E_UNAUTHORIZED', "the proof is not sealed under the connection's key", { permanent: true });
    }
    const digest = challengeDigest(f.conn, rec.account, unhex(rec.g), unhex(rec.w));
    const accepted: string[] = [];
    const refused: Array<{ target: string; code: ErrorCode; message: string }> = [];
    const routes: Array<{ key: string; info: RouteInfo }> = [];
    for (const address of rec.targets) {
      const proof = f.proofs.find((p) => p.address === address);
      if (!proof) {
        refused.push({ target: address, code: 'E_FORBIDDEN', message: 'no proof of possession sent' });
        continue;
      }
      const pk = recoverKey(digest, proof.signature, proof.recovery);
      if (!pk || !addressMatchesKey(address, pk)) {
        refused.push({ target: address, code: 'E_FORBIDDEN', message: 'signature does not prove possession of the key of this address' });
        continue;
      }
      accepted.push(address);
      for (const t of routeTargets(pk)) routes.push({ key: this.keys.route('addr', rec.account, t), info: { a: address, pk: hex(pk) } });
    }
    this.counters.refused += refused.length;
    if (refused.length) this.log.warn('address claims refused', { conn: f.conn, account: rec.account, refused: refused.map((r) => r.target) });
    if (accepted.length === 0 && rec.mode === 'new') {
      throw new HwayError('E_FORBIDDEN', `no announced address was proven (${refused.map((r) => r.target).join(', ')})`, { permanent: true });
    }
    const authRec = ctx.fk && rec.mode === 'new' ? { j: rec.j!, w: rec.w, g: rec.g } : undefined;
    if (routes.length) await this.register(f.conn, rec.account, 'wallet', rec.mode, routes, authRec, ctx.fk);
    this.counters.handshakes++;
    this.log.info('wallet connected', { conn: f.conn, account: rec.account, addresses: accepted, round: f.round });
    await this.toWallet(f.conn, { t: 'welcome', round: f.round, account: rec.account, accepted, refused, heartbeatMs: this.heartbeatMs }, ctx.fk);
  }

  /** Registers routes; a new authenticated connection's key record is kept before it is announced. */
  private async register(
    conn: string,
    account: string,
    kind: WalletKind,
    mode: 'new' | 'add',
    routes: Array<{ key: string; info: RouteInfo }>,
    authRec?: ConnAuthRecord,
    fk?: Uint8Array,
  ): Promise<void> {
    const ttl = this.heartbeatMs * 3;
    const ok = await runScript(
      this.cmd,
      'gw_register',
      [this.keys.conn(conn), this.keys.connInfo(conn), this.keys.conns(), ...routes.map((r) => r.key)],
      [conn, ttl, account, kind, this.nodeId, mode, Date.now(), authRec ? JSON.stringify(authRec) : '', ...routes.map((r) => JSON.stringify(r.info))],
    );
    if (ok !== 1) {
      throw new HwayError('E_FORBIDDEN', mode === 'new' ? 'connection id already in use' : 'connection is gone or belongs to another account', { permanent: true });
    }
    if (authRec && fk) this.auth!.cache(conn, fk, account);
    await this.publishEvent({ t: 'up', conn, routes: routes.map((r) => r.key) });
  }

  private async onRemove(conn: string, targets: string[]): Promise<void> {
    const info = await this.cmd.hgetall(this.keys.connInfo(conn));
    if (!info._account) throw new HwayError('E_NOT_FOUND', 'unknown connection', { permanent: true });
    const wanted = new Set<string>();
    for (const t of targets) {
      if (info._kind === 'proof') wanted.add(t);
      else {
        try {
          wanted.add(routingAddress(t));
        } catch {
          wanted.add(t);
        }
      }
    }
    // A wallet address is routed under both spellings: drop every route of the same key.
    const pks = new Set<string>();
    const drop: string[] = [];
    for (const [field, v] of Object.entries(info)) {
      if (field.startsWith('_')) continue;
      const ri = JSON.parse(v) as RouteInfo;
      const target = field.slice(field.lastIndexOf(':') + 1);
      if (wanted.has(target) || targets.includes(ri.a)) {
        drop.push(field);
        if (ri.pk) pks.add(ri.pk);
      }
    }
    for (const [field, v] of Object.entries(info)) {
      if (!field.startsWith('_') && !drop.includes(field) && pks.has((JSON.parse(v) as RouteInfo).pk ?? '')) drop.push(field);
    }
    if (drop.length === 0) return;
    await runScript(this.cmd, 'gw_unroute', [this.keys.connInfo(conn), ...drop], [conn]);
    await this.publishEvent({ t: 'routes', conn, routes: drop });
    this.log.info('routes removed', { conn, count: drop.length });
  }

  private async unregister(conn: string, reason: string): Promise<void> {
    // The key to tell the wallet it was evicted, taken before its record goes.
    const fk = reason !== 'bye' ? await this.auth?.bestEffortKey(conn) : undefined;
    // The script declares every key it touches (Redis Cluster), so the record's routes are read first;
    // it answers nil when a registration changed them meanwhile, and they are read again.
    let routes: string[] | null = null;
    for (let i = 0; routes === null; i++) {
      if (i === 10) throw new HwayError('E_BUSY', `the routes of connection ${conn} keep changing; not removed`);
      const fields = (await this.cmd.hkeys(this.keys.connInfo(conn))).filter((f) => !f.startsWith('_'));
      routes = (await runScript(this.cmd, 'gw_unregister', [this.keys.conn(conn), this.keys.connInfo(conn), this.keys.conns(), ...fields], [conn])) as string[] | null;
    }
    this.markDown(conn);
    if (reason !== 'bye') this.counters.evicted++;
    await this.publishEvent({ t: 'down', conn, routes });
    if (reason !== 'bye') await this.toWallet(conn, { t: 'evicted', reason }, fk);
    this.log.info('connection removed', { conn, reason });
  }

  /**
   * Evicts connections whose heartbeats stopped (liveness key expired) or whose channel has no
   * subscriber any more (the wallet's Redis connection closed: a killed process is seen at once).
   * One node sweeps per interval (a short lock).
   */
  private async sweep(): Promise<void> {
    if (!this.running) return;
    const got = await this.cmd.set(this.keys.sweepLock(), this.nodeId, 'PX', Math.max(50, this.heartbeatMs - 10), 'NX');
    if (got !== 'OK') return;
    const ids = await this.cmd.smembers(this.keys.conns());
    if (ids.length === 0) return;
    const pipe = this.cmd.pipeline();
    for (const id of ids) pipe.exists(this.keys.conn(id));
    // Listener counts that cannot be had (a cluster master away) evict nobody; missed heartbeats still do.
    const [res, numsub] = await Promise.all([
      pipe.exec().then((r) => r ?? []),
      listenerCounts(this.fast, ids.map((id) => this.keys.toConn(id)), Math.max(1000, this.heartbeatMs)).catch(() => undefined),
    ]);
    for (let i = 0; i < ids.length; i++) {
      const alive = res[i]?.[1] === 1;
      const subs = numsub ? numsub[i]! : 1;
      if (!alive || subs === 0) await this.unregister(ids[i]!, alive ? 'disconnected' : 'missed heartbeats');
    }
  }

  private async publishEvent(e: { t: 'up' | 'down' | 'routes'; conn: string; routes: string[] }): Promise<void> {
    this.onEventObj(e); // this node at once, without waiting for the round trip
    await this.cmd.publish(this.keys.events(), JSON.stringify(e));
  }

  private onEvent(msg: string): void {
    try {
      const e = JSON.parse(msg) as { t: string; conn: string; routes: string[] };
      if (typeof e.conn !== 'string' || !Array.isArray(e.routes)) return;
      this.onEventObj(e);
    } catch {
      this.log.warn('malformed route event');
    }
  }

  private onEventObj(e: { t: string; conn: string; routes: string[] }): void {
    this.router.invalidate(e.routes.filter((r) => typeof r === 'string'));
    if (e.t === 'down') this.markDown(e.conn);
  }

  private markDown(conn: string): void {
    this.down.add(conn);
    if (this.down.size > 10_000) this.down.delete(this.down.values().next().value as string);
    this.inflight.delete(conn);
    this.auth?.forget(conn);
    // In-flight requests on a dead wallet fail over now rather than at their timeout.
    for (const [id, p] of this.pending) {
      if (p.conn !== conn) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new HwayError('E_NO_WALLET', 'wallet disconnected'));
    }
  }

  /** Sends a frame on a connection's channel, sealed under `fk` when there is one (auth on). */
  private async toWallet(conn: string, f: ToWalletFrame, fk: Uint8Array | undefined): Promise<number> {
    return sendToConn(this.cmd, this.keys.toConn(conn), walletWire(conn, f, fk));
  }

  // ---------------------------------------------------------------- routes

  /** Healthy, not yet tried, not full; fewest in flight first, then the smallest id (deterministic). */
  private pick(route: Route, tried: Set<string>): { conn?: RouteConn; busy: boolean } {
    let best: RouteConn | undefined;
    let bestLoad = Infinity;
    let busy = false;
    for (const c of route.conns) {
      if (tried.has(c.conn) || this.down.has(c.conn)) continue;
      const load = this.inflight.get(c.conn) ?? 0;
      if (load >= this.maxInFlightPerWallet) {
        busy = true;
        continue;
      }
      if (load < bestLoad) {
        best = c;
        bestLoad = load;
      }
    }
    return best ? { conn: best, busy } : { busy };
  }

  // ---------------------------------------------------------------- producer requests

  private async requestLoop(): Promise<void> {
    const lists = [this.keys.nodeRequests(this.nodeId), this.keys.requests()];
    while (this.running) {
      let res: unknown;
      try {
        res = await this.reqConn.call('BLMPOP', 1, lists.length, ...lists, 'LEFT', 'COUNT', 64);
      } catch {
        if (!this.running) return;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (!Array.isArray(res)) continue;
      for (const raw of (res as [string, string[]])[1]) void this.onRequest(raw);
    }
  }

  private async onRequest(raw: string): Promise<void> {
    let req: RequestFrame;
    try {
      req = parseRequest(parseJson(raw));
    } catch (e) {
      this.counters.malformed++;
      this.log.warn('malformed producer request', { error: asHwayError(e).message });
      return;
    }
    let claims = ANON;
    let key: Uint8Array | undefined;
    if (this.auth) {
      try {
        ({ claims, requestKey: key } = await this.auth.request(req));
      } catch (e) {
        const err = asHwayError(e);
        this.counters.refused++;
        this.log[err instanceof FrameRefused ? 'warn' : 'debug']('producer request refused', { request: req.id, op: req.op, code: err.code, error: err.message });
        // Unsealed: there is no key for it. A producer believes an unsealed answer only when it is E_UNAUTHORIZED.
        await this.respond(req, err, undefined, undefined);
        return;
      }
    } else if (req.deadline <= Date.now()) return; // nobody waits for it any more
    const now = Date.now();
    this.counters.requests++;
    if (this.active >= this.maxConcurrent) {
      await this.respond(req, new HwayError('E_BUSY', 'gateway node is overloaded'), undefined, key);
      return;
    }
    this.active++;
    try {
      let value: JsonValue | undefined;
      let err: HwayError | undefined;
      try {
        value = await this.handle(req, claims, Math.min(req.deadline, now + this.requestTimeoutMs));
      } catch (e) {
        err = asHwayError(e);
      }
      // A sign's audit entry is written before its answer leaves; without it, no signature is released.
      if (req.op === 'sign' && this.auth && this.opts.audit) {
        try {
          await this.opts.audit(gatewaySignEntry(req, claims, err?.code ?? 'ok'));
        } catch (e) {
          [err, value] = [asHwayError(e), undefined];
        }
      }
      await this.respond(req, err, value, key);
    } finally {
      this.active--;
    }
  }

  /** Answers a producer; sealed under its request key once the request was authenticated. */
  private async respond(req: RequestFrame, err: HwayError | undefined, value: JsonValue | undefined, key: Uint8Array | undefined): Promise<void> {
    const outcome = err ? err.code : 'ok';
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    const frame: ResponseFrame = err
      ? { id: req.id, ok: false, error: err instanceof RateLimitedError ? err.toJSON() : { code: err.code, message: err.message } }
      : { id: req.id, ok: true, value: value ?? null };
    const json = JSON.stringify(frame);
    try {
      await this.fast.publish(req.reply, key ? seal(key, GW_LABEL.response, req.id, json) : json);
    } catch (e) {
      this.log.warn('could not answer producer', { request: req.id, error: asHwayError(e).message });
    }
  }

  private static readonly PERM: Record<RequestFrame['op'], Perm> = { has: 'read', list: 'read', miners: 'read', miner: 'read', sign: 'sign', proof: 'sign' };

  private async handle(req: RequestFrame, claims: TokenClaims, deadline: number): Promise<JsonValue> {
    requirePerm(claims, GatewayNode.PERM[req.op]);
    const a = req.args;
    const routeKey = this.routeKeyOf(req, claims.account);
    const route = routeKey ? this.router.lookup(routeKey) : undefined;
    route?.catch(() => undefined);
    const charge = new Charge(this.limiter, claims);
    // Requests that go to a wallet are charged in the same script that hands them to the wallet (one
    // round trip instead of two); every other request is charged here, overlapping the route lookup.
    if (req.op !== 'sign' && req.op !== 'proof') await charge.take();
    switch (req.op) {
      case 'has': {
        const r = await route!;
        return r.conns.some((c) => !this.down.has(c.conn)) || r.vault !== null;
      }
      case 'sign': {
        if (typeof a.bytes !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(a.bytes) || a.bytes.length > MAX_SIGN_BYTES * 2) throw bad('bytes must be lowercase hex');
        const meta = a.meta as { type?: unknown; extra?: JsonValue } | null;
        if (typeof meta !== 'object' || meta === null || typeof meta.type !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(meta.type)) throw bad('meta.type must be a short lowercase name');
        const m: SignMeta = { type: meta.type };
        if (meta.extra !== undefined) m.extra = meta.extra;
        if (m.type === 'raw' && a.bytes.length !== 64) throw bad('a raw sign takes a 32-byte digest');
        return this.sign(claims.account, String(a.address), await route!, a.bytes, m, deadline, charge);
      }
      case 'proof': {
        if (typeof a.randomness !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(a.randomness)) throw bad('randomness must be lowercase hex');
        return this.dispatch(claims.account, await route!, deadline, (id, c) => ({
          t: 'proof',
          id,
          reply: this.keys.toNode(this.nodeId),
          miner: c.announced,
          sectorInfos: a.sectorInfos ?? null,
          randomness: a.randomness as string,
          deadline,
        }), async (r) => {
          this.counters.proofs++;
          return r.value ?? null;
        }, `miner ${String(a.miner)}`, charge);
      }
      case 'miner': {
        const r = await route!;
        const live = r.conns.filter((c) => !this.down.has(c.conn));
        return { miner: String(a.miner), connections: live.map((c) => ({ id: c.conn, inFlight: this.inflight.get(c.conn) ?? 0 })) };
      }
      case 'list':
        return listConns(this.fast, this.keys, claims.account, 'wallet');
      case 'miners': {
        const conns = await listConns(this.fast, this.keys, claims.account, 'proof');
        return [...new Set(conns.flatMap((c) => c.targets))].sort();
      }
    }
  }

  private routeKeyOf(req: RequestFrame, account: string): string | undefined {
    const a = req.args;
    if (req.op === 'has' || req.op === 'sign') {
      if (typeof a.address !== 'string') throw bad('address is required');
      return this.keys.route('addr', account, routingAddress(a.address));
    }
    if (req.op === 'proof' || req.op === 'miner') {
      if (typeof a.miner !== 'string' || !MINER_RE.test(a.miner)) throw bad('miner must be a miner id (f0…/t0…)');
      return this.keys.route('miner', account, a.miner);
    }
    return undefined;
  }

  private async sign(account: string, address: string, route: Route, bytes: string, meta: SignMeta, deadline: number, charge: Charge): Promise<JsonValue> {
    if (route.conns.length === 0 && route.vault !== null && this.opts.vaultSigners) {
      await charge.take();
      return this.signWithVault(account, address, route.vault, bytes, meta);
    }
    // The schemes whose digest the gateway knows are checked; a wallet-defined type is passed through.
    const digest = knownDigest(unhex(bytes), meta.type);
    return this.dispatch(account, route, deadline, (id, c) => ({ t: 'sign', id, reply: this.keys.toNode(this.nodeId), address: c.announced, bytes, meta, deadline }), async (r, c) => {
      if (r.signature === undefined || r.recovery === undefined) throw new HwayError('E_INTERNAL', 'wallet answered without a signature');
      // A wallet that answers garbage is a failed attempt: the next wallet is tried.
      if (digest && c.publicKey && !(await this.verify(c.publicKey, digest, unhex(r.signature)))) {
        throw new HwayError('E_INTERNAL', 'wallet returned a signature that does not verify');
      }
      this.counters.signed++;
      return { signature: r.signature, recovery: r.recovery, via: c.conn };
    }, `address ${address}`, charge);
  }

  private async signWithVault(account: string, address: string, vaultId: string, bytes: string, meta: SignMeta): Promise<JsonValue> {
    const digest = knownDigest(unhex(bytes), meta.type);
    if (!digest) throw bad(`a vault signs meta.type raw, sha256 or keccak256, not "${meta.type}"`);
    const r = await this.opts.vaultSigners!.sign(vaultId, digest, meta, account);
    const sig = r.signature;
    const pk = sig.length === 64 ? recoverKey(digest, hex(sig), r.recovery) : undefined;
    if (!pk || !addressMatchesKey(address, pk)) throw new HwayError('E_INTERNAL', `vault ${vaultId} returned a signature that does not match ${address}`);
    this.counters.signed++;
    this.log.debug('signed by vault', { account, vault: vaultId });
    return { signature: hex(sig), recovery: r.recovery, via: `vault:${vaultId}` };
  }

  /**
   * Sends one request to the route's wallets in turn until one answers acceptably or the deadline
   * passes: the least loaded healthy one first, the next on error, timeout or disconnection.
   */
  private async dispatch(
    account: string,
    route: Route,
    deadline: number,
    frame: (id: string, c: RouteConn) => ToWalletFrame,
    accept: (r: WalletReply & { ok: true }, c: RouteConn) => Promise<JsonValue>,
    what: string,
    charge: Charge,
  ): Promise<JsonValue> {
    const tried = new Set<string>();
    let last: HwayError | undefined;
    for (;;) {
      if (Date.now() >= deadline) throw new HwayError('E_TIMEOUT', `no answer for ${what} before the deadline`);
      const { conn: c, busy } = this.pick(route, tried);
      if (!c) {
        // A refusal is charged too, so that probing for addresses is rate limited like signing.
        if (!charge.done) await charge.take();
        if (last) throw last.code === 'E_NO_WALLET' && busy ? new HwayError('E_WALLET_BUSY', `every wallet for ${what} is busy`) : last;
        if (busy) throw new HwayError('E_WALLET_BUSY', `every wallet for ${what} is busy`);
        throw new HwayError('E_NO_WALLET', `no wallet connected for ${what} in this account`, { permanent: true });
      }
      tried.add(c.conn);
      if (tried.size > 1) this.counters.failovers++;
      let fk: Uint8Array | undefined;
      try {
        fk = await this.auth?.frameKey(c.conn, account);
      } catch (e) {
        // Its key record is gone or does not verify for this account: unusable, like a dead wallet.
        last = new HwayError('E_NO_WALLET', `wallet connection ${c.conn} cannot be reached (${asHwayError(e).code})`);
        this.log.warn('wallet connection skipped: no frame key', { conn: c.conn, code: asHwayError(e).code });
        continue;
      }
      // The first attempt charges the limits and publishes in one script; failovers only publish. On
      // a Redis Cluster the charge and the publish are two calls: the buckets sit in the account's
      // slot and the wallet's shard channel in its own, and a script may touch only one slot.
      let refusedByLimits = false;
      const refused = (e: unknown): never => {
        refusedByLimits = true;
        throw e;
      };
      const publish = charge.done
        ? (ch: string, m: string) => sendToConn(this.fast, ch, m)
        : isCluster(this.fast)
          ? (ch: string, m: string) => charge.take().then(() => sendToConn(this.fast, ch, m), refused)
          : (ch: string, m: string) => charge.take({ channel: ch, message: m }).catch(refused);
      try {
        const r = await this.attempt(c, deadline, frame, publish, fk);
        return await accept(r, c);
      } catch (e) {
        last = asHwayError(e);
        // Over the limit, or the limits could not be checked (fail closed): never try another wallet.
        if (last.code === 'E_BAD_INPUT' || refusedByLimits) throw last;
        this.log.debug('attempt failed', { conn: c.conn, code: last.code });
      }
    }
  }

  private attempt(
    c: RouteConn,
    deadline: number,
    frame: (id: string, c: RouteConn) => ToWalletFrame,
    publish: (channel: string, message: string) => Promise<number>,
    fk: Uint8Array | undefined,
  ): Promise<WalletReply & { ok: true }> {
    const id = randomUUID();
    const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, deadline - Date.now()));
    this.inflight.set(c.conn, (this.inflight.get(c.conn) ?? 0) + 1);
    const done = (): void => {
      const n = (this.inflight.get(c.conn) ?? 1) - 1;
      if (n <= 0) this.inflight.delete(c.conn);
      else this.inflight.set(c.conn, n);
    };
    return new Promise<WalletReply & { ok: true }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // Tell the wallet to stop working on it; the answer, if any, is ignored.
        void this.toWallet(c.conn, { t: 'cancel', id }, fk).catch(() => undefined);
        reject(new HwayError('E_TIMEOUT', `wallet did not answer within ${timeout} ms`));
      }, timeout);
      this.pending.set(id, { conn: c.conn, fk, resolve, reject, timer });
      const channel = this.keys.toConn(c.conn);
      const gone = (): void => {
        // Nobody listens on the wallet's channel: it is gone. Evict it and try the next one.
        const p = this.pending.get(id);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(id);
          p.reject(new HwayError('E_NO_WALLET', 'wallet is not connected'));
        }
        void this.unregister(c.conn, 'disconnected').catch(() => undefined);
      };
      publish(channel, walletWire(c.conn, frame(id, c), fk)).then(
        (receivers) => {
          // A shard channel's count is the whole count, on one Redis and on a cluster (wallet-channel.ts).
          if (receivers === 0) gone();
        },
        (e: unknown) => {
          const p = this.pending.get(id);
          if (!p) return;
          clearTimeout(p.timer);
          this.pending.delete(id);
          p.reject(asHwayError(e));
        },
      );
    }).finally(done);
  }

  private onWalletReply(msg: string): void {
    let parsed: unknown;
    let r: WalletReply;
    // Sealed under the connection's frame key (auth on): only the wallet that was asked can answer.
    const sealed = unseal(msg);
    const genuine = (p: Pending, conn: string): boolean => !p.fk || (sealed !== null && verifySealed(p.fk, GW_LABEL.walletReply, conn, sealed));
    try {
      parsed = parseJson(sealed ? sealed.json : msg);
      r = parseWalletReply(parsed);
    } catch (e) {
      this.counters.malformed++;
      const conn = connIdOf(parsed);
      const id = typeof parsed === 'object' && parsed !== null && typeof (parsed as { id?: unknown }).id === 'string' ? (parsed as { id: string }).id : undefined;
      this.log.warn('malformed wallet reply', { conn: conn ?? '-', error: asHwayError(e).message });
      if (conn) {
        const f: ToWalletFrame = { t: 'error', code: 'E_BAD_INPUT', message: asHwayError(e).message };
        if (id && id.length <= 128) f.id = id;
        void this.toWallet(conn, f, this.auth?.peek(conn)).catch(() => undefined);
      }
      // A malformed answer to a pending request fails that attempt at once (next wallet).
      const p = id ? this.pending.get(id) : undefined;
      if (p && id && conn && p.conn === conn && genuine(p, conn)) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new HwayError('E_INTERNAL', 'wallet sent a malformed answer'));
      }
      return;
    }
    const p = this.pending.get(r.id);
    // Only the wallet that was asked may answer.
    if (!p || p.conn !== r.conn) return;
    if (!genuine(p, r.conn)) {
      this.counters.refused++;
      this.log.warn("refused a wallet answer not sealed under its connection's key", { conn: r.conn, request: r.id });
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(r.id);
    if (r.ok) p.resolve(r);
    else p.reject(new HwayError(r.code, r.message));
  }
}

export type { RouteKind };
