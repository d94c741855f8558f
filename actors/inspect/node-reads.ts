// The Redis reads of one node's share, behind /readyz and a few /metrics gauges (here, in the
// inspector, so that one module knows the other subsystems' keys). Each is bounded: a probe or a
// scrape must answer while Redis is away (the node's connection queues commands then, and would wait
// forever), so a read that does not come back in time counts as failed, and the caller keeps its last
// values.
//
// The queue and dead-letter gauges cover only the partitions this node owns, and the gateway gauges only
// the connections this node registered: summed over the nodes of a cluster they give the cluster's
// totals, with nothing counted twice.
import type { Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import { GwKeys } from '../gateway/keys.js';
import { Keys, PRIORITIES, type Priority } from '../ingress/keys.js';
import { within } from '../within.js';

export type Ping = { ok: true; seconds: number } | { ok: false; reason: string };

/** A PING on the node's connection within `ms`; a connection that is not ready fails at once (nothing queued). */
export async function ping(redis: Redis, ms: number): Promise<Ping> {
  if (redis.status !== 'ready') return { ok: false, reason: `the connection is ${redis.status}` };
  const t0 = performance.now();
  try {
    await within(redis.ping(), ms);
    return { ok: true, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

export interface QueueReading {
  /** Stream length per priority: entries waiting or delivered and not yet done (acknowledged ones are deleted). */
  depth: Record<Priority, number>;
  /** Delayed tasks and retries waiting for their time. */
  scheduled: number;
  dead: number;
}

/** Queue depths and dead letters of `partitions`; one pipeline per partition (its keys share one cluster slot). */
export async function readQueues(redis: Redis, prefix: string, partitions: number[], ms: number): Promise<QueueReading> {
  const keys = new Keys(prefix);
  const out: QueueReading = { depth: { critical: 0, default: 0, low: 0 }, scheduled: 0, dead: 0 };
  if (redis.status !== 'ready') throw new HwayError('E_REDIS_UNAVAILABLE', `the connection is ${redis.status}`);
  const perPartition = await within(
    Promise.all(
      partitions.map((p) => {
        const pipe = redis.pipeline();
        for (const prio of PRIORITIES) pipe.xlen(keys.stream(p, prio));
        pipe.zcard(keys.scheduled(p));
        pipe.zcard(keys.dead(p));
        return pipe.exec();
      }),
    ),
    ms,
  );
  for (const res of perPartition) {
    const v = (res ?? []).map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
    PRIORITIES.forEach((prio, i) => (out.depth[prio] += v[i] ?? 0));
    out.scheduled += v[3] ?? 0;
    out.dead += v[4] ?? 0;
  }
  return out;
}

export interface GatewayReading {
  /** Live wallet and proof-worker connections whose handshake this node answered. */
  connections: number;
  /** Routing entries of those connections: address spellings (eth and fil per proven key) and miners. */
  routes: number;
}

/**
 * The gateway's routing table (actors/gateway/keys.ts; the fields are those gw_register.lua writes): a
 * connection is live while its `conn` hash exists, `node` names the node that registered it, and each
 * field of its `conninfo` hash not starting with "_" is one route. Every key carries the one hash tag
 * {gw}, so these pipelines are single-slot on a cluster too. O(connections) per scrape, as `hway status`.
 */
export async function readGateway(redis: Redis, prefix: string, nodeId: string, ms: number): Promise<GatewayReading> {
  if (redis.status !== 'ready') throw new HwayError('E_REDIS_UNAVAILABLE', `the connection is ${redis.status}`);
  const gw = new GwKeys(prefix);
  return within(
    (async () => {
      const ids = await redis.smembers(gw.conns());
      if (ids.length === 0) return { connections: 0, routes: 0 };
      const owners = redis.pipeline();
      for (const id of ids) owners.hget(gw.conn(id), 'node');
      const res = (await owners.exec()) ?? [];
      const ours = ids.filter((_, i) => !res[i]?.[0] && res[i]?.[1] === nodeId);
      if (ours.length === 0) return { connections: 0, routes: 0 };
      const infos = redis.pipeline();
      for (const id of ours) infos.hkeys(gw.connInfo(id));
      const fields = (await infos.exec()) ?? [];
      const routes = fields.reduce((n, [err, f]) => n + (err || !Array.isArray(f) ? 0 : f.filter((x: string) => !x.startsWith('_')).length), 0);
      return { connections: ours.length, routes };
    })(),
    ms,
  );
}

