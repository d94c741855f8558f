// The Redis the tests run against: the single Redis at HWAY_TEST_REDIS (default redis://127.0.0.1:6379),
// or, when HWAY_TEST_REDIS_CLUSTER lists seed nodes ("h:p,h:p,…", set by spec/cluster-setup.ts for the
// cluster pass, or by hand for an external cluster), that Redis Cluster. Test files run in parallel
// against it, each under its own key prefix, and remove their keys with deleteKeys.
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis';
import { connect, parseClusterSeeds, type ClusterConfig, type RedisSource } from '../../storage/redis.js';
import { HANG_MS } from './deadlines.js';

export { deleteKeysWithPrefix as deleteKeys } from '../../storage/prefix-keys.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** The single Redis's URL (used in both passes by tests that need a single instance). */
export const REDIS_URL: string = process.env.HWAY_TEST_REDIS ?? DEFAULT_URL;

const clusterList = process.env.HWAY_TEST_REDIS_CLUSTER?.trim() || undefined;

/** True in the cluster pass: REDIS is a Redis Cluster. */
export const ON_CLUSTER: boolean = clusterList !== undefined;

/**
 * Where the tests' Redis is, as every Highway API takes it (a RedisSource): `{ cluster: seeds }` on a
 * cluster, else the options of REDIS_URL. Typed as options that may name a cluster (rather than as
 * `string | ClusterConfig`) so that it stays a valid argument of `new Redis(…)` for tests that only run
 * against the single Redis; any test that may run on the cluster must use testRedis() instead.
 */
export const REDIS: TestRedisSource = clusterList !== undefined ? { cluster: parseClusterSeeds(clusterList) } : optionsOf(REDIS_URL);

export type TestRedisSource = RedisOptions & Partial<ClusterConfig>;

/** The connection options a redis:// or rediss:// URL stands for (as ioredis reads it). */
function optionsOf(url: string): RedisOptions {
  const u = new URL(url);
  const o: RedisOptions = { host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: u.port ? Number(u.port) : 6379 };
  if (u.username) o.username = decodeURIComponent(u.username);
  if (u.password) o.password = decodeURIComponent(u.password);
  if (u.pathname.length > 1) o.db = Number(u.pathname.slice(1));
  if (u.protocol === 'rediss:') o.tls = {};
  return o;
}

/**
 * For producer clients (IngressClient, HwayClient) in tests that are not about these timeouts: being
 * slow to connect (a cluster client loads the slot map first) or to answer is ordinary work on a busy
 * machine, so the fail-fast defaults (1 s, 2 s) become hang-only.
 */
export const HANG_ONLY = { unavailableAfterMs: HANG_MS, commandTimeoutMs: HANG_MS } as const;

/**
 * A plain command connection to the tests' Redis (a Cluster client, typed as Redis, on the cluster).
 * `sharded`: it will SSUBSCRIBE (a cluster client needs to know before it connects).
 */
export function testRedis(overrides: RedisOptions = {}, opts: { sharded?: boolean } = {}): Redis {
  return connect(REDIS, overrides, opts);
}

/**
 * Environment for a child process (fixture, node process, CLI) to reach the same Redis: HWAY_REDIS on a
 * single Redis, HWAY_REDIS_CLUSTER ("h:p,…") on a cluster.
 */
export function redisEnv(): Record<string, string> {
  return clusterList !== undefined ? { HWAY_REDIS_CLUSTER: clusterList } : { HWAY_REDIS: REDIS_URL };
}

/**
 * In a fixture process: the Redis its parent test gave it through redisEnv() (HWAY_REDIS_CLUSTER, then
 * HWAY_REDIS), else the test run's own (HWAY_TEST_REDIS_CLUSTER, inherited), else the default URL.
 */
export function redisFromEnv(env: NodeJS.ProcessEnv = process.env): RedisSource {
  const cluster = env.HWAY_REDIS_CLUSTER?.trim() || undefined;
  if (cluster !== undefined) return { cluster: parseClusterSeeds(cluster) };
  if (env.HWAY_REDIS) return env.HWAY_REDIS;
  const testCluster = env.HWAY_TEST_REDIS_CLUSTER?.trim() || undefined;
  if (testCluster !== undefined) return { cluster: parseClusterSeeds(testCluster) };
  return env.HWAY_TEST_REDIS ?? DEFAULT_URL;
}

/** The hash tag of a key (what decides its cluster slot), or the whole key when it has none. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/**
 * One single-key command per key, pipelined, results in key order; a command error is thrown. On a
 * cluster a pipeline's keys must live on one node, so there is one pipeline per hash tag (all keys of
 * a task partition share the tag {p}); on a single Redis, one pipeline.
 */
export async function eachKey<T = unknown>(redis: Redis, keys: string[], add: (pipe: ChainableCommander, key: string) => void): Promise<T[]> {
  const groups = new Map<string, number[]>();
  keys.forEach((k, i) => {
    const g = ON_CLUSTER ? hashTag(k) : '';
    const list = groups.get(g) ?? [];
    list.push(i);
    groups.set(g, list);
  });
  const out = new Array<T>(keys.length);
  await Promise.all(
    [...groups.values()].map(async (idx) => {
      const pipe = redis.pipeline();
      for (const i of idx) add(pipe, keys[i]!);
      const res = (await pipe.exec()) ?? [];
      res.forEach(([err, v], j) => {
        if (err) throw err;
        out[idx[j]!] = v as T;
      });
    }),
  );
  return out;
}

/**
 * Wakes the consumers of a partition's wake channel the way a producer does, whichever kind of channel
 * the node listens on: PUBLISH (classic pub/sub) and SPUBLISH (sharded, Redis 7+; also served by a
 * single Redis).
 */
export async function wake(redis: Redis, channel: string, message = 'q'): Promise<void> {
  await redis.publish(channel, message);
  await redis.spublish(channel, message).catch((e: Error) => {
    if (!/unknown command/i.test(e.message)) throw e;
  });
}

/**
 * A key for a test's own bookkeeping under its prefix. All of them share one hash tag, so that a script
 * or MULTI over several of them stays in one slot on a cluster.
 */
export function testKey(prefix: string, name: string): string {
  return `${prefix}:{test}:${name}`;
}

/** How many keys are under `prefix` on one Redis: a full SCAN, since one call may return none of them. */
export async function countKeys(redis: Redis, prefix: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    n += keys.length;
    cursor = next;
  } while (cursor !== '0');
  return n;
}
