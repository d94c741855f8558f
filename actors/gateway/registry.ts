// The gateway's connection registry in Redis: registering a connection's routes after its handshake,
// removing some of them (a wallet dropping addresses), removing a connection (bye, eviction), the
// sweep that finds connections whose heartbeats lapsed or whose wallet went away, and the route
// events that tell every node's router and wallet actors about it. The table's layout is in keys.ts;
// its scripts (storage/lua/gw_*.lua) declare every key they touch, so that they run on a Redis Cluster.
import type { Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { runScript } from '../../storage/scripts.js';
import type { GatewayCounters } from './counters.js';
import type { ToWalletFrame, WalletKind } from './frames.js';
import type { GwKeys } from './keys.js';
import type { ConnAuthRecord, NodeAuth } from './node-auth.js';
import { addressRoute, encodeRouteKey, minerRoute, type RouteKey } from './route-key.js';
import { parseRouteInfo, type RouteInfo } from './route-store.js';
import { listenerCounts } from './wallet-channel.js';

/** A route event, broadcast on <p>:gw:events: the encoded route keys whose connections changed. */
export interface RouteEvent {
  t: 'up' | 'down' | 'routes';
  conn: string;
  routes: string[];
}

/** One route of a connection, with what its record keeps for it. */
export interface RouteEntry {
  route: RouteKey;
  info: RouteInfo;
}

export type ToWallet = (conn: string, f: ToWalletFrame, fk: Uint8Array | undefined) => Promise<number>;

export interface RegistryDeps {
  cmd: Redis;
  /** The fail-fast connection (listener counts). */
  fast: Redis;
  keys: GwKeys;
  nodeId: string;
  auth: NodeAuth | undefined;
  heartbeatMs: number;
  counters: GatewayCounters;
  log: Logger;
  toWallet: ToWallet;
  /** Applies a route event on this node at once, without waiting for the broadcast to come back. */
  apply: (e: RouteEvent) => void;
}

export class ConnRegistry {
  constructor(private readonly d: RegistryDeps) {}

  /** Registers routes; a new authenticated connection's key record is kept before it is announced. */
  async register(conn: string, account: string, kind: WalletKind, mode: 'new' | 'add', routes: RouteEntry[], authRec?: ConnAuthRecord, fk?: Uint8Array): Promise<void> {
    const { d } = this;
    const keys = routes.map((r) => encodeRouteKey(d.keys, r.route));
    const ok = await runScript(
      d.cmd,
      'gw_register',
      [d.keys.conn(conn), d.keys.connInfo(conn), d.keys.conns(), ...keys],
      [conn, d.heartbeatMs * 3, account, kind, d.nodeId, mode, Date.now(), authRec ? JSON.stringify(authRec) : '', ...routes.map((r) => JSON.stringify(r.info))],
    );
    if (ok !== 1) {
      throw new HwayError('E_FORBIDDEN', mode === 'new' ? 'connection id already in use' : 'connection is gone or belongs to another account', { permanent: true });
    }
    if (authRec && fk) d.auth!.cache(conn, fk, account);
    await this.publish({ t: 'up', conn, routes: keys });
  }

  /** Removes the routes of `targets` (a `remove` frame); a wallet address goes under both its spellings. */
  async unroute(conn: string, targets: string[]): Promise<void> {
    const { d } = this;
    const info = await d.cmd.hgetall(d.keys.connInfo(conn));
    const account = info._account;
    if (!account) throw new HwayError('E_NOT_FOUND', 'unknown connection', { permanent: true });
    // The route keys asked for, encoded as the record's fields are: an address in its routing spelling
    // (t1… → f1…), a miner id as it is. A target that is no address is matched by its announced spelling.
    const wanted = new Set<string>();
    for (const t of targets) {
      try {
        wanted.add(encodeRouteKey(d.keys, info._kind === 'proof' ? minerRoute(account, t) : addressRoute(account, t)));
      } catch {
        // below
      }
    }
    const routes = Object.entries(info)
      .filter(([field]) => !field.startsWith('_'))
      .map(([field, v]) => ({ field, ri: parseRouteInfo(v) }));
    const drop = new Set<string>();
    const pks = new Set<string>();
    for (const { field, ri } of routes) {
      if (wanted.has(field) || (ri !== undefined && targets.includes(ri.a))) {
        drop.add(field);
        if (ri?.pk) pks.add(ri.pk);
      }
    }
    // A wallet address is routed under both spellings: drop every route of the same key.
    for (const { field, ri } of routes) if (ri?.pk !== undefined && pks.has(ri.pk)) drop.add(field);
    if (drop.size === 0) return;
    await runScript(d.cmd, 'gw_unroute', [d.keys.connInfo(conn), ...drop], [conn]);
    await this.publish({ t: 'routes', conn, routes: [...drop] });
    d.log.info('routes removed', { conn, count: drop.size });
  }

  /** Removes a connection from routing (bye, or an eviction: then the wallet is told why). */
  async unregister(conn: string, reason: string): Promise<void> {
    const { d } = this;
    // The key to tell the wallet it was evicted, taken before its record goes.
    const fk = reason !== 'bye' ? await d.auth?.bestEffortKey(conn) : undefined;
    // The script declares every key it touches (Redis Cluster), so the record's routes are read first;
    // it answers nil when a registration changed them meanwhile, and they are read again.
    let routes: string[] | null = null;
    for (let i = 0; routes === null; i++) {
      if (i === 10) throw new HwayError('E_BUSY', `the routes of connection ${conn} keep changing; not removed`);
      const fields = (await d.cmd.hkeys(d.keys.connInfo(conn))).filter((f) => !f.startsWith('_'));
      routes = (await runScript(d.cmd, 'gw_unregister', [d.keys.conn(conn), d.keys.connInfo(conn), d.keys.conns(), ...fields], [conn])) as string[] | null;
    }
    if (reason !== 'bye') d.counters.n.evicted++;
    await this.publish({ t: 'down', conn, routes });
    if (reason !== 'bye') await d.toWallet(conn, { t: 'evicted', reason }, fk);
    d.log.info('connection removed', { conn, reason });
  }

  /**
   * Finds connections whose heartbeats stopped (liveness key expired) or whose channel has no
   * subscriber any more (the wallet's Redis connection closed: a killed process is seen at once), and
   * hands each to `evict` (its wallet actor). One node sweeps per interval (a short lock): a
   * connection must be evicted even when the node that holds it died.
   */
  async sweep(evict: (conn: string, reason: string) => Promise<void>): Promise<void> {
    const { d } = this;
    const got = await d.cmd.set(d.keys.sweepLock(), d.nodeId, 'PX', Math.max(50, d.heartbeatMs - 10), 'NX');
    if (got !== 'OK') return;
    const ids = await d.cmd.smembers(d.keys.conns());
    if (ids.length === 0) return;
    const pipe = d.cmd.pipeline();
    for (const id of ids) pipe.exists(d.keys.conn(id));
    // Listener counts that cannot be had (a cluster master away) evict nobody; missed heartbeats still do.
    const [res, numsub] = await Promise.all([
      pipe.exec().then((r) => r ?? []),
      listenerCounts(d.fast, ids.map((id) => d.keys.toConn(id)), Math.max(1000, d.heartbeatMs)).catch(() => undefined),
    ]);
    for (let i = 0; i < ids.length; i++) {
      const alive = res[i]?.[1] === 1;
      const subs = numsub ? numsub[i]! : 1;
      if (!alive || subs === 0) await evict(ids[i]!, alive ? 'disconnected' : 'missed heartbeats');
    }
  }

  /** Tells producers this node is serving (so that they fail fast when none is). */
  async announce(): Promise<void> {
    const { d } = this;
    const now = Date.now();
    await d.cmd.zadd(d.keys.nodes(), now + 3 * d.heartbeatMs, d.nodeId);
    await d.cmd.zremrangebyscore(d.keys.nodes(), '-inf', now - 60_000);
  }

  private async publish(e: RouteEvent): Promise<void> {
    this.d.apply(e); // this node at once, without waiting for the round trip
    await this.d.cmd.publish(this.d.keys.events(), JSON.stringify(e));
  }
}

/** A route event as broadcast (anyone may publish on the channel): undefined when malformed. */
export function parseRouteEvent(msg: string): RouteEvent | undefined {
  try {
    const e = JSON.parse(msg) as RouteEvent;
    if (typeof e?.conn !== 'string' || !Array.isArray(e.routes)) return undefined;
    return { t: e.t, conn: e.conn, routes: e.routes.filter((r) => typeof r === 'string') };
  } catch {
    return undefined;
  }
}
