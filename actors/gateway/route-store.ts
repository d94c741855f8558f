// Reading the gateway's routing table back from Redis (keys.ts), for the node's router cache and its
// listings. Anyone with access to Redis may have written what is read here, so entries are checked
// before use: a wallet's route entry must hold a public key whose address is the route's (answers are
// verified against it), and a malformed entry is left out rather than failing the whole read.
import type { Redis } from 'ioredis';
import { addressMatchesKey } from '../../enclaves/addresses.js';
import type { Logger } from '../../log.js';
import type { WalletKind } from './frames.js';
import type { GwKeys } from './keys.js';
import { encodeRouteKey, type RouteKey } from './route-key.js';
import type { Route, RouteConn } from './router.js';
import { unhex } from './signatures.js';

/** What a connection's record keeps per route: the spelling it announced, and a wallet's public key (hex). */
export interface RouteInfo {
  a: string;
  pk?: string;
}

export type ConnListing = {
  id: string;
  targets: string[];
  since: number;
};

/** A record's entry for one route, or undefined when it is malformed. */
export function parseRouteInfo(raw: string): RouteInfo | undefined {
  try {
    const info = JSON.parse(raw) as RouteInfo;
    return typeof info?.a === 'string' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** A route's entry for one connection, or undefined when it is malformed or its key is not of the address. */
export function routeConnOf(id: string, raw: string, route: Pick<RouteKey, 'kind' | 'target'>, node: string): RouteConn | undefined {
  const info = parseRouteInfo(raw);
  if (!info) return undefined;
  const rc: RouteConn = { conn: id, announced: info.a, node };
  if (route.kind !== 'addr') return rc;
  if (typeof info.pk !== 'string' || !/^04[0-9a-f]{128}$/.test(info.pk)) return undefined;
  rc.publicKey = unhex(info.pk);
  try {
    return addressMatchesKey(route.target, rc.publicKey) ? rc : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The live connections of one route, with what each stored for it: the route set's members, then
 * (pipelined) each one's liveness key (its `node` field: the node that holds the connection, i.e.
 * registered it) and its record's entry for the route. A read needs no script: a connection that
 * comes or goes meanwhile is announced by a route event, which invalidates the cached answer after
 * this load (the router actor handles one message at a time). A member whose liveness key has expired
 * (missed heartbeats) is left out at once; the sweeper removes it. The vault of the address, when no
 * wallet serves it, comes from `vaultLookup`.
 */
export async function loadRoute(
  redis: Redis,
  keys: GwKeys,
  route: RouteKey,
  log: Logger,
  vaultLookup?: (account: string, address: string) => Promise<string | null>,
): Promise<Route> {
  const key = encodeRouteKey(keys, route);
  const ids = await redis.smembers(key);
  const conns: RouteConn[] = [];
  if (ids.length) {
    const pipe = redis.pipeline();
    for (const id of ids) {
      pipe.hget(keys.conn(id), 'node');
      pipe.hget(keys.connInfo(id), key);
    }
    const res = (await pipe.exec()) ?? [];
    ids.forEach((id, i) => {
      const [e1, node] = res[2 * i] ?? [new Error('no reply'), null];
      const [e2, raw] = res[2 * i + 1] ?? [new Error('no reply'), null];
      if (e1 || e2) throw e1 ?? e2;
      if (typeof node !== 'string' || typeof raw !== 'string') return;
      const rc = routeConnOf(id, raw, route, node);
      if (rc) conns.push(rc);
      else log.warn('route entry refused: malformed, or its public key is not of the address', { conn: id });
    });
  }
  conns.sort((a, b) => (a.conn < b.conn ? -1 : a.conn > b.conn ? 1 : 0));
  let vault: string | null = null;
  if (conns.length === 0 && vaultLookup && route.kind === 'addr') vault = await vaultLookup(route.account, route.target);
  return { conns, vault };
}

/** The live connections of an account and kind with their targets, oldest first. */
export async function listConns(redis: Redis, keys: GwKeys, account: string, kind: WalletKind): Promise<ConnListing[]> {
  const ids = await redis.smembers(keys.conns());
  if (ids.length === 0) return [];
  const pipe = redis.pipeline();
  for (const id of ids) {
    pipe.hgetall(keys.connInfo(id));
    pipe.exists(keys.conn(id));
  }
  const res = (await pipe.exec()) ?? [];
  const out: ConnListing[] = [];
  ids.forEach((id, i) => {
    const info = res[2 * i]?.[1] as Record<string, string> | undefined;
    if (!info || res[2 * i + 1]?.[1] !== 1 || info._account !== account || info._kind !== kind) return;
    const targets = new Set<string>();
    for (const [f, v] of Object.entries(info)) {
      const ri = f.startsWith('_') ? undefined : parseRouteInfo(v);
      if (ri) targets.add(ri.a);
    }
    out.push({ id, targets: [...targets].sort(), since: Number(info._since) });
  });
  return out.sort((x, y) => x.since - y.since || (x.id < y.id ? -1 : 1));
}
