// Connections. Producers must fail fast when Redis is away (no offline queue, bounded waits); the
// node's own connections instead queue and reconnect with backoff, because an in-flight task's
// completion must reach Redis eventually rather than be dropped.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { HwayError } from '../errors.js';
import { defineScripts, scriptCommandNames } from './scripts.js';
import { coalesceWrites } from './write-coalescing.js';

export interface ClusterSeed {
  host: string;
  port: number;
}

/** A Redis Cluster: its seed nodes (any reachable master or replica), and options for every node. */
export interface ClusterConfig {
  cluster: ClusterSeed[];
  /** Options applied to each node's connection (password, tls, …). */
  nodeOptions?: RedisOptions;
}

/**
 * Where Redis is: a connection to copy settings from (a Redis or a Cluster), an ioredis options
 * object, a redis:// URL, or `{ cluster: [{ host, port }, …] }`.
 */
export type RedisSource = Redis | Cluster | RedisOptions | string | ClusterConfig;

export function isClusterConfig(src: unknown): src is ClusterConfig {
  return typeof src === 'object' && src !== null && Array.isArray((src as ClusterConfig).cluster);
}

/** True when the connection is a Redis Cluster client (it was typed as Redis; see connect). */
export function isCluster(conn: Redis): boolean {
  return (conn as unknown) instanceof Cluster;
}

/** The masters of a cluster connection, or the connection itself: where a fan-out read goes. */
export function masters(conn: Redis): Redis[] {
  return isCluster(conn) ? (conn as unknown as Cluster).nodes('master') : [conn];
}

/** Parses "host:port[,host:port…]" (the --redis-cluster flag and HWAY_REDIS_CLUSTER). */
export function parseClusterSeeds(list: string): ClusterSeed[] {
  const seeds = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s);
      const port = m ? Number(m[2]) : NaN;
      if (!m || !(port > 0 && port < 65536)) throw new HwayError('E_BAD_INPUT', `bad cluster seed "${s}": expected HOST:PORT`);
      return { host: m[1]!, port };
    });
  if (seeds.length === 0) throw new HwayError('E_BAD_INPUT', 'no cluster seed given: expected HOST:PORT[,HOST:PORT…]');
  return seeds;
}

function clusterConnection(seeds: ClusterSeed[], nodeOpts: RedisOptions, overrides: RedisOptions, sharded: boolean): Cluster {
  const { enableOfflineQueue, enableAutoPipelining: _autoPipelining, maxRetriesPerRequest, retryStrategy, lazyConnect, commandTimeout, connectionName, ...rest } = overrides;
  const opts: ClusterOptions = {
    redisOptions: { ...nodeOpts, ...rest, ...(commandTimeout !== undefined ? { commandTimeout } : {}), ...(connectionName ? { connectionName } : {}), maxRetriesPerRequest },
    enableOfflineQueue: enableOfflineQueue ?? true,
    // Off on a cluster: ioredis groups auto-pipelined commands by the slot of their first argument,
    // which for a script with a variable number of keys is the key count, not a key; batches are
    // sent command by command there instead (storage/scripts.ts runBatch).
    enableAutoPipelining: false,
    lazyConnect: lazyConnect ?? false,
    // Partition wake-ups use sharded pub/sub: one subscriber connection per master, each receiving
    // only its own slots' messages (ioredis routes SSUBSCRIBE by the channel's slot). Only the
    // connections that SSUBSCRIBE ask for it: it costs a connection per master.
    shardedSubscribers: sharded,
    // Never give up on the cluster: a node's connection reconnects the way a single Redis's does,
    // and requests wait out a failover (MOVED/TRYAGAIN/CLUSTERDOWN are retried by ioredis).
    clusterRetryStrategy: retryStrategy === null ? () => null : (times: number) => (retryStrategy ? retryStrategy(times) : backoff(times)) ?? null,
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
  };
  if (typeof maxRetriesPerRequest === 'number') opts.maxRedirections = Math.max(16, maxRetriesPerRequest);
  const cluster = new Cluster(seeds, opts);
  // Each master's connection coalesces its writes per loop turn, as a single Redis's does: this is
  // what groups a batch's script calls per master here, auto-pipelining being off.
  cluster.on('+node', (node: Redis) => coalesceWrites(node));
  return cluster;
}

/**
 * A connection to a single Redis or to a cluster. A Cluster client shares the Redis command interface
 * (every command, pipeline, defineCommand, pub/sub) and is handed around typed as one; the few places
 * that differ (fan-out reads, subscriber choice) ask isCluster().
 */
export function connect(src: RedisSource, overrides: RedisOptions, opts: { sharded?: boolean } = {}): Redis {
  let conn: Redis;
  if (isClusterConfig(src)) {
    conn = clusterConnection(src.cluster, src.nodeOptions ?? {}, overrides, opts.sharded ?? false) as unknown as Redis;
  } else if (src instanceof Cluster) {
    // a new client for the same cluster: its masters are the seeds
    const seeds = src.nodes('master').map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }));
    conn = clusterConnection(seeds, src.options.redisOptions ?? {}, overrides, opts.sharded ?? false) as unknown as Redis;
  } else {
    const url = typeof src === 'string' ? src : undefined;
    const base: RedisOptions = typeof src === 'string' ? {} : src instanceof Redis ? { ...src.options } : { ...src };
    // Script calls are sent outside auto-pipelines: the socket's writes are coalesced per turn instead
    // (write-coalescing.ts), which groups them as well without building a Pipeline per turn.
    const ignored = [...(base.autoPipeliningIgnoredCommands ?? []), ...scriptCommandNames()];
    const merged: RedisOptions = { ...base, ...overrides, autoPipeliningIgnoredCommands: ignored };
    conn = url ? new Redis(url, merged) : new Redis(merged);
    coalesceWrites(conn);
  }
  // Scripts are defined before the first command: an auto-pipeline created before defineCommand lacks
  // the script's method and ioredis then throws an uncaught "results[i] is not iterable" (ioredis #1931).
  defineScripts(conn);
  return conn;
}

export const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/** The node's connections: reconnect forever, queue while away. `sharded`: it will SSUBSCRIBE. */
export function nodeConnection(src: RedisSource, name: string, opts: { sharded?: boolean } = {}): Redis {
  return connect(src, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    retryStrategy: backoff,
    lazyConnect: false,
  }, opts);
}

/** Errors that mean "Redis is not reachable right now", as opposed to a script or data error. */
export function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === 'ReplyError') return false;
  return /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Command timed out|MaxRetriesPerRequest|connect|closed|ENOTFOUND|EHOSTUNREACH/i.test(
    `${e.name} ${e.message}`,
  );
}

export function unavailable(cause: unknown): HwayError {
  return new HwayError('E_REDIS_UNAVAILABLE', 'Redis is unavailable', { cause });
}

/** Resolve once the connection is ready, or fail with E_REDIS_UNAVAILABLE after `ms`. */
export function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  // A cluster client is ready only after discovering the slots and connecting to the masters:
  // several round trips, which a budget meant for one reconnect does not cover on a busy machine.
  if (isCluster(redis)) ms = Math.max(ms, 10_000);
  if (redis.status === 'end' || redis.status === 'close' && !redis.options.retryStrategy) {
    return Promise.reject(new HwayError('E_REDIS_UNAVAILABLE', 'Redis connection is closed'));
  }
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new HwayError('E_REDIS_UNAVAILABLE', `Redis did not answer within ${ms} ms`));
    }, ms);
    const onReady = () => {
      clearTimeout(t);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/**
 * Subscribes once the connection is ready. A SUBSCRIBE sent while ioredis still runs its ready check
 * puts the connection in subscriber mode under that check, which then fails, and the subscription
 * (with every message of its channels) is lost; every subscriber of Highway goes through here.
 */
export async function subscribeWhenReady(sub: Redis, channels: string[], ms: number): Promise<void> {
  await whenReady(sub, ms);
  await sub.subscribe(...channels);
}

/** Close a connection and resolve once it has fully ended (QUIT when possible, else disconnect). */
export async function closeConnection(r: Redis, ms = 1000): Promise<void> {
  if (r.status === 'end') return;
  const ended = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    r.once('end', () => {
      clearTimeout(t);
      resolve();
    });
  });
  if (r.status === 'ready') {
    r.quit().catch(() => r.disconnect());
  } else {
    r.disconnect();
  }
  await ended;
}
