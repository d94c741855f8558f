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
//
// The gateway's actors live in the node's one actor system (DESIGN.md, "Actors"), passed in as
// `system`; a gateway started on its own starts a system of its own:
//
//   system ─┬─ gw-routers ── router-0…    route shards: address → connections (router.ts)
//           └─ gw-wallets ── wallet-N…    one WalletActor per connection (wallet-supervisor.ts)
//
// This file assembles the node: its Redis connections, the hello and request loops and the route
// events. The concerns are in their own modules: handshake.ts (connection frames), registry.ts
// (routes in Redis, sweep), requests.ts (producer requests), dispatch.ts (failover), route-key.ts and
// route-store.ts (routes), signatures.ts (crypto helpers).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { logger as makeLogger, type Logger } from '../../log.js';
import { backoff, connect, nodeConnection, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { startSystem, stopActor, type SystemRef } from '../system.js';
import type { AuditFields } from '../audit/entry.js';
import { GatewayCounters, type GatewayStats } from './counters.js';
import { unseal } from './frame-auth.js';
import { connIdOf, parseJson, parseWalletReply, type ToWalletFrame } from './frames.js';
import { Handshakes } from './handshake.js';
import { GwKeys, HELLO_GROUP, type RouteKind } from './keys.js';
import { NodeAuth, walletWire } from './node-auth.js';
import { DEFAULT_LIMITS, RateLimiter, type RateLimits } from './ratelimit.js';
import { ConnRegistry, parseRouteEvent, type RouteEvent } from './registry.js';
import { RequestHandler, type VaultSigners } from './requests.js';
import { encodeRouteKey } from './route-key.js';
import { loadRoute } from './route-store.js';
import { Router } from './router.js';
import { routingAddress } from './signatures.js';
import { TokenService } from './tokens.js';
import { nobleVerifier, wasmVerifier, type Verifier } from './verify.js';
import { sendToConn } from './wallet-channel.js';
import { WalletSupervisor } from './wallet-supervisor.js';

export { nobleVerifier, routingAddress };
export type { GatewayStats, RouteKind, VaultSigners, Verifier };

export interface GatewayOptions {
  redis: RedisSource;
  nodeId?: string;
  prefix?: string;
  /** The node's actor system, for the gateway's actors; without one the gateway starts its own. */
  system?: SystemRef;
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

export interface Gateway {
  readonly nodeId: string;
  stop(): Promise<void>;
  stats(): GatewayStats;
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
  private readonly ownSystem: SystemRef | undefined;
  private readonly router: Router;
  private readonly wallets: WalletSupervisor;
  private readonly registry: ConnRegistry;
  private readonly handshakes: Handshakes;
  private readonly requests: RequestHandler;
  private readonly counters = new GatewayCounters();
  private readonly heartbeatMs: number;
  private verify: Verifier = nobleVerifier;
  private closeVerifier: () => Promise<void> = async () => undefined;
  private readonly loops: Array<Promise<void>> = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly opts: GatewayOptions) {
    this.nodeId = opts.nodeId ?? randomUUID();
    this.keys = new GwKeys(opts.prefix);
    this.log = (opts.logger ?? makeLogger('gateway')).child({ component: 'gateway', node: this.nodeId });
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
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
    this.ownSystem = opts.system ? undefined : startSystem(`hway-gw-${this.nodeId}`);
    const system = opts.system ?? this.ownSystem!;
    const vaultLookup = opts.vaultSigners && ((a: string, t: string) => opts.vaultSigners!.lookup(a, t));
    this.router = new Router({
      system,
      shards: opts.routerShards ?? 4,
      logger: this.log,
      encode: (rk) => encodeRouteKey(this.keys, rk),
      load: (rk) => loadRoute(this.fast, this.keys, rk, this.log, vaultLookup),
    });
    const toWallet = (conn: string, f: ToWalletFrame, fk: Uint8Array | undefined): Promise<number> => sendToConn(this.cmd, this.keys.toConn(conn), walletWire(conn, f, fk));
    const common = { keys: this.keys, auth: this.auth, heartbeatMs: this.heartbeatMs, counters: this.counters, log: this.log, toWallet };
    this.registry = new ConnRegistry({ ...common, cmd: this.cmd, fast: this.fast, nodeId: this.nodeId, apply: (e) => this.applyEvent(e) });
    this.handshakes = new Handshakes({ ...common, cmd: this.cmd, registry: this.registry, challengeTtlMs: opts.challengeTtlMs ?? 30_000 });
    this.wallets = new WalletSupervisor({
      system,
      maxInFlightPerWallet: opts.maxInFlightPerWallet ?? 64,
      // Longer than a challenge may wait for its proof, so that a handshake's actor outlives it.
      idleMs: Math.max(60_000, 2 * (opts.challengeTtlMs ?? 30_000)),
      drop: (conn, reason) => this.registry.unregister(conn, reason),
      log: this.log,
      deps: {
        channel: (conn) => this.keys.toConn(conn),
        handshake: (_conn, frame, sealed) => this.handshakes.run(frame, sealed),
        evict: (conn, reason) => this.registry.unregister(conn, reason),
        cancel: (conn, id, fk) => void toWallet(conn, { t: 'cancel', id }, fk).catch(() => undefined),
        refusedAnswer: () => this.counters.n.refused++,
        log: this.log,
      },
    });
    this.requests = new RequestHandler({
      wallets: this.wallets,
      auth: this.auth,
      fast: this.fast,
      reqConn: this.reqConn,
      keys: this.keys,
      nodeId: this.nodeId,
      limiter: new RateLimiter(this.fast, opts.rateLimits ?? DEFAULT_LIMITS, this.keys.prefix),
      router: this.router,
      vaultSigners: opts.vaultSigners,
      verify: () => this.verify,
      audit: opts.audit,
      attemptTimeoutMs: opts.attemptTimeoutMs ?? 5000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 20_000,
      maxConcurrent: opts.maxConcurrent ?? 2000,
      counters: this.counters,
      log: this.log,
    });
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
      if (ch === this.keys.events()) {
        const e = parseRouteEvent(msg);
        if (e) this.applyEvent(e);
        else this.log.warn('malformed route event');
      } else this.onWalletReply(msg);
    });
    let first = true;
    this.sub.on('ready', () => {
      // Route events sent while the subscription was down are lost: forget every cached route, and
      // stop the actors of connections that went away meanwhile.
      if (!first) {
        this.router.invalidate('all');
        void this.reconcile().catch((e: unknown) => this.log.warn('reconcile failed', { error: String(e) }));
      }
      first = false;
    });
    await subscribeWhenReady(this.sub, [this.keys.toNode(this.nodeId), this.keys.events()], 5000);
    if (this.tokens) await this.tokens.whenReady();
    this.running = true;
    this.loops.push(this.helloLoop(), this.requests.loop(() => this.running));
    await this.registry.announce();
    this.sweepTimer = setInterval(() => {
      void this.registry.announce().catch(() => undefined);
      void this.registry.sweep((conn, reason) => this.wallets.evict(conn, reason)).catch((e: unknown) => this.log.warn('sweep failed', { error: String(e) }));
      this.wallets.sweep();
    }, this.heartbeatMs);
    this.sweepTimer.unref();
    this.log.info('gateway started', { heartbeatMs: this.heartbeatMs, auth: this.tokens !== undefined });
  }

  stats(): GatewayStats {
    return this.counters.snapshot(this.wallets.inFlight());
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
    this.stopActors(); // requests in flight fail with E_CLOSED
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
    this.stopActors();
    if (this.tokens && this.ownTokens) await this.tokens.close().catch(() => undefined);
    await this.closeVerifier().catch(() => undefined);
  }

  private stopActors(): void {
    this.wallets.stop();
    this.router.stop();
    if (this.ownSystem) stopActor(this.ownSystem);
  }

  /** Reads the hello stream; each connection's frames go to its actor, a batch at a time (backpressure). */
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
        entries.map(async ([, fields]) => {
          const i = fields.indexOf('f');
          const f = await this.handshakes.read(i >= 0 ? fields[i + 1] ?? '' : '');
          if (f) await this.wallets.frame(f.frame.conn, f.frame, f.sealed);
        }),
      );
    }
  }

  /** An answer on this node's reply channel: to the actor of the connection it names. */
  private onWalletReply(msg: string): void {
    let parsed: unknown;
    const sealed = unseal(msg);
    try {
      parsed = parseJson(sealed ? sealed.json : msg);
      this.wallets.reply(parseWalletReply(parsed), sealed);
    } catch (e) {
      this.counters.n.malformed++;
      const conn = connIdOf(parsed);
      const id = typeof parsed === 'object' && parsed !== null && typeof (parsed as { id?: unknown }).id === 'string' ? (parsed as { id: string }).id : undefined;
      const message = e instanceof Error ? e.message : String(e);
      this.log.warn('malformed wallet reply', { conn: conn ?? '-', error: message });
      if (!conn) return;
      const f: ToWalletFrame = { t: 'error', code: 'E_BAD_INPUT', message };
      if (id && id.length <= 128) f.id = id;
      void sendToConn(this.cmd, this.keys.toConn(conn), walletWire(conn, f, this.auth?.peek(conn))).catch(() => undefined);
      if (id) this.wallets.malformed(conn, id, sealed);
    }
  }

  private applyEvent(e: RouteEvent): void {
    this.router.invalidate(e.routes);
    if (e.t === 'down') {
      this.wallets.down(e.conn);
      this.auth?.forget(e.conn);
    }
  }

  /** After lost route events: the connections held here whose record is gone are down. */
  private async reconcile(): Promise<void> {
    const held = await this.wallets.held();
    if (held.length === 0) return;
    const pipe = this.cmd.pipeline();
    for (const conn of held) pipe.exists(this.keys.conn(conn));
    const res = (await pipe.exec()) ?? [];
    held.forEach((conn, i) => {
      if (res[i]?.[0] === null && res[i]?.[1] === 0) this.applyEvent({ t: 'down', conn, routes: [] });
    });
  }
}
