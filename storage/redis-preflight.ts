// Preflight: before a node serves, check that its Redis configuration can work at all, and say in one
// line what is wrong when it cannot, instead of a node that starts and then fails every task (or
// retries forever against a cluster that will never answer). It checks:
//
//  - reachability: a single Redis answers, or at least one seed of a cluster does
//    (E_REDIS_UNAVAILABLE, naming the server or every seed with why it did not answer);
//  - the kind of Redis: `--redis` (a single Redis) pointed at a cluster node, or `--redis-cluster`
//    pointed at a Redis without cluster support (E_REDIS_MISCONFIGURED);
//  - the cluster itself: every hash slot assigned (else E_REDIS_MISCONFIGURED: the cluster was never
//    created, or slots were removed), cluster_state:ok and every master answering (else
//    E_REDIS_UNAVAILABLE: the cluster is down);
//  - the key layout: a Lua script run over keys that the node's scripts use together (one partition's
//    stream, task hash, result, effect entry, epoch, lease and vault record), declared as its KEYS.
//    A CROSSSLOT reply means those keys span Redis Cluster slots (E_REDIS_MISCONFIGURED); any other
//    refusal (scripting disabled, ACL NOPERM) means the node's scripts cannot run either.
//
// A key prefix containing `{` or `}` changes the keys' hash tags (`a{}b:{0}:…` hashes whole keys,
// `{x}:{0}:…` puts every partition in one slot): such a prefix is refused up front (E_BAD_INPUT).
//
// Everything is bounded by one deadline; nothing is retried; nothing is written to Redis.
import { Cluster, Redis, type ClusterNode, type NatMap, type RedisOptions } from 'ioredis';
import { HwayError } from '../errors.js';
import { Keys } from '../actors/ingress/keys.js';
import { isCluster, parseClusterSeeds, type ClusterSeed, type RedisSource } from './redis.js';

export const TOTAL_SLOTS = 16384;
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

export interface PreflightOptions {
  /** The key prefix the node uses (default "hway"); its keys are what the script probe declares. */
  prefix?: string;
  /**
   * Keys that one script declares together, to probe instead of probeKeys(prefix): e.g. the keys of an
   * embedding service's task effects (they must carry the task's slot tag).
   */
  keys?: string[];
}

// ---- where Redis is: options and environment ----

/**
 * The Redis source of a node: `option` when given; else HWAY_REDIS_CLUSTER (seeds "host:port,…") or
 * HWAY_REDIS (a URL); else redis://127.0.0.1:6379. Both variables set (and no option) is ambiguous:
 * E_BAD_INPUT, rather than silently preferring one.
 */
export function redisSourceFrom(option: RedisSource | undefined, env: NodeJS.ProcessEnv): RedisSource {
  if (option !== undefined) return option;
  const url = (env.HWAY_REDIS ?? '').trim();
  const seeds = (env.HWAY_REDIS_CLUSTER ?? '').trim();
  if (url !== '' && seeds !== '') {
    throw new HwayError('E_BAD_INPUT', 'both HWAY_REDIS and HWAY_REDIS_CLUSTER are set: unset one (or pass options.redis)', { permanent: true });
  }
  if (seeds !== '') return { cluster: parseClusterSeeds(seeds) };
  return url !== '' ? url : DEFAULT_REDIS;
}

/** Refuses a key prefix with `{` or `}`: it would change the hash tags that keep a partition in one slot. */
export function checkPrefix(prefix: string): void {
  if (/[{}]/.test(prefix)) {
    throw new HwayError('E_BAD_INPUT', `key prefix "${prefix}" contains "{" or "}": that changes the keys' Redis Cluster hash tags (a partition's keys must share one slot)`, { permanent: true });
  }
}

/** Keys that the node's scripts declare together (all of partition 0): the probe's KEYS. */
export function probeKeys(prefix: string): string[] {
  const k = new Keys(prefix);
  const id = 'preflight';
  // The vault record is built by VaultStore from the same partition prefix.
  return [k.stream(0, 'default'), k.task(0, id), k.result(0, id), k.effect(0, id), k.epoch(0), k.lease(0), `${k.part(0)}vault:${id}`];
}

// ---- helpers ----

const addr = (s: ClusterSeed): string => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

class Deadline {
  private readonly end: number;
  constructor(readonly ms: number) {
    this.end = Date.now() + ms;
  }
  left(): number {
    return Math.max(1, this.end - Date.now());
  }
}

class Timeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'Timeout';
  }
}

/** `p`, or a Timeout after `ms`; a late rejection of `p` is swallowed. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => undefined);
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Timeout(ms)), ms)))]).finally(() => clearTimeout(t));
}

/** A short reason: ECONNREFUSED, "no answer within 1500 ms", or the error's message. */
function why(e: unknown): string {
  const c = e as { code?: unknown; message?: unknown; lastNodeError?: unknown } | undefined;
  if (typeof c?.code === 'string' && /^E[A-Z]+$/.test(c.code)) return c.code;
  const m = typeof c?.message === 'string' ? c.message : String(e);
  return m.replace(/\s+/g, ' ').trim() || 'error';
}

const isReply = (e: unknown): e is Error => e instanceof Error && e.name === 'ReplyError';

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function unavailable(message: string, cause?: unknown): HwayError {
  return new HwayError('E_REDIS_UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

function misconfigured(message: string, cause?: unknown): HwayError {
  return new HwayError('E_REDIS_MISCONFIGURED', message, { permanent: true, ...(cause === undefined ? {} : { cause }) });
}

/** One connection for one question: no retries, no offline queue, bounded by `ms`. */
async function ask<T>(target: ClusterSeed, opts: RedisOptions, ms: number, q: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    ...opts,
    host: target.host,
    port: target.port,
    lazyConnect: true,
    connectTimeout: ms,
    commandTimeout: ms,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableAutoPipelining: false,
    disconnectTimeout: 100,
  });
  let last: unknown;
  r.on('error', (e: unknown) => (last = e));
  try {
    await within(r.connect(), ms);
    return await within(q(r), ms);
  } catch (e) {
    throw isReply(e) || e instanceof Timeout ? e : ((e as { code?: string }).code ? e : (last ?? e));
  } finally {
    r.disconnect();
  }
}

// ---- cluster ----

interface SeedView {
  seed: ClusterSeed;
  enabled: boolean;
  info: Record<string, string>;
  /** Slot ranges with their master, from CLUSTER SLOTS. */
  slots: Array<{ from: number; to: number; master: ClusterSeed }>;
}

async function viewOf(seed: ClusterSeed, opts: RedisOptions, ms: number): Promise<SeedView> {
  return ask(seed, opts, ms, async (r) => {
    const enabled = parseInfo(String(await r.info('cluster'))).cluster_enabled === '1';
    if (!enabled) return { seed, enabled, info: {}, slots: [] };
    const info = parseInfo(String(await r.call('CLUSTER', 'INFO')));
    const raw = (await r.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    const slots = raw.map(([from, to, m]) => ({ from: Number(from), to: Number(to), master: { host: String(m[0]) || seed.host, port: Number(m[1]) } }));
    return { seed, enabled, info, slots };
  });
}

function mapNat(natMap: NatMap | undefined, s: ClusterSeed): ClusterSeed {
  if (natMap === undefined) return s;
  const m = typeof natMap === 'function' ? natMap(`${s.host}:${s.port}`) : natMap[`${s.host}:${s.port}`];
  return m ?? s;
}

function seedsOf(nodes: ClusterNode[]): ClusterSeed[] {
  return nodes.map((n) => {
    if (typeof n === 'number') return { host: '127.0.0.1', port: n };
    if (typeof n === 'string') {
      const m = /^(?:redis:\/\/)?\[?([^\]]*?)\]?:(\d+)$/.exec(n);
      return m ? { host: m[1] || '127.0.0.1', port: Number(m[2]) } : { host: n, port: 6379 };
    }
    return { host: n.host ?? '127.0.0.1', port: n.port ?? 6379 };
  });
}

/**
 * The cluster as its seeds describe it: reachable, cluster-enabled, all slots assigned, state ok,
 * every master answering. Uses its own short-lived connections (an ioredis Cluster client never
 * becomes ready when no slot is assigned, and retries for ever when the node's options say so).
 */
export async function checkClusterSeeds(seeds: ClusterSeed[], nodeOptions: RedisOptions, deadlineMs: number, natMap?: NatMap): Promise<void> {
  const d = new Deadline(deadlineMs);
  const list = seeds.map(addr).join(', ');
  const views = await Promise.allSettled(seeds.map((s) => viewOf(mapNat(natMap, s), nodeOptions, d.left())));
  const ok = views.flatMap((v) => (v.status === 'fulfilled' ? [v.value] : []));
  if (ok.length === 0) {
    const reasons = views.map((v, i) => `${addr(seeds[i]!)} (${v.status === 'rejected' ? why(v.reason) : '?'})`);
    throw unavailable(`cannot reach any seed of the Redis Cluster: ${reasons.join(', ')}`);
  }
  const plain = ok.find((v) => !v.enabled);
  if (plain) throw misconfigured(`Redis at ${addr(plain.seed)} is not a cluster node (cluster_enabled:0): use --redis redis://${addr(plain.seed)} for a single Redis`);

  const assigned = (v: SeedView): number => Number(v.info.cluster_slots_assigned ?? 0);
  const best = ok.reduce((a, b) => (assigned(b) > assigned(a) ? b : a));
  if (assigned(best) < TOTAL_SLOTS) {
    throw misconfigured(
      `Redis Cluster at ${list} has ${assigned(best)} of ${TOTAL_SLOTS} hash slots assigned: create the cluster (redis-cli --cluster create HOST:PORT …) or assign the missing slots`,
    );
  }
  const healthy = ok.filter((v) => v.info.cluster_state === 'ok');
  if (healthy.length === 0) {
    const failing = Number(best.info.cluster_slots_fail ?? 0) + Number(best.info.cluster_slots_pfail ?? 0);
    throw unavailable(`Redis Cluster at ${list} is down: cluster_state:${best.info.cluster_state ?? '?'}${failing ? `, ${failing} of ${TOTAL_SLOTS} slots without a working master` : ''}`);
  }

  // A master that died moments ago is not yet marked failed (cluster-node-timeout): ask each one.
  const view = healthy.find((v) => v.slots.length > 0) ?? healthy[0]!;
  const masters = new Map<string, { master: ClusterSeed; ranges: string[] }>();
  for (const s of view.slots) {
    const key = addr(s.master);
    const e = masters.get(key) ?? { master: s.master, ranges: [] };
    e.ranges.push(s.from === s.to ? `${s.from}` : `${s.from}-${s.to}`);
    masters.set(key, e);
  }
  const answered = new Set(ok.map((v) => addr(v.seed)));
  const toAsk = [...masters.values()].filter((m) => !answered.has(addr(mapNat(natMap, m.master))));
  const pings = await Promise.allSettled(toAsk.map((m) => ask(mapNat(natMap, m.master), nodeOptions, d.left(), (r) => r.ping())));
  const dead = pings.flatMap((p, i) => (p.status === 'rejected' ? [`${addr(toAsk[i]!.master)} (slots ${toAsk[i]!.ranges.join(',')}: ${why(p.reason)})`] : []));
  if (dead.length) throw unavailable(`Redis Cluster at ${list} is down: master ${dead.join(', master ')} does not answer`);
}

// ---- the script probe ----

async function probeScript(conn: Redis, keys: string[], d: Deadline, where: string): Promise<void> {
  try {
    // Declares the keys and reads none: the server checks the slots of declared keys before running.
    await within(conn.eval('return #KEYS', keys.length, ...keys) as Promise<unknown>, d.left());
  } catch (e) {
    if (e instanceof Timeout) throw unavailable(`${where} did not answer a script within ${d.ms} ms`, e);
    const m = why(e);
    if (/^CROSSSLOT/.test(m)) {
      const shown = keys.length > 3 ? `${keys.slice(0, 3).join(', ')}, …` : keys.join(', ');
      throw misconfigured(`keys that one script uses together (${shown}) span Redis Cluster slots (CROSSSLOT): the node's Lua scripts cannot run on ${where}`, e);
    }
    if (/^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING)/.test(m)) throw unavailable(`${where} cannot serve now: ${m}`, e);
    if (isReply(e)) throw misconfigured(`${where} refuses the node's Lua scripts: ${m}`, e);
    throw unavailable(`${where} is unavailable (${m})`, e);
  }
}

// ---- preflight ----

async function ready(conn: Redis, d: Deadline): Promise<boolean> {
  if (conn.status === 'ready') return true;
  if (conn.status === 'end') return false;
  if (conn.status === 'wait') conn.connect().catch(() => undefined);
  return new Promise((resolve) => {
    const t = setTimeout(() => finish(false), d.left());
    const onReady = (): void => finish(true);
    const onEnd = (): void => finish(false);
    function finish(v: boolean): void {
      clearTimeout(t);
      conn.off('ready', onReady);
      conn.off('end', onEnd);
      resolve(v);
    }
    conn.once('ready', onReady);
    conn.once('end', onEnd);
  });
}

/**
 * Checks that `conn` (a single Redis or a cluster client from storage/redis.ts `connect`) can serve a
 * node under `opts.prefix`, within `deadlineMs` overall. Throws an HwayError with one readable line:
 * E_BAD_INPUT (prefix with braces), E_REDIS_UNAVAILABLE (no answer, cluster down) or
 * E_REDIS_MISCONFIGURED (wrong kind of Redis, slots not assigned, CROSSSLOT, scripts refused).
 * Writes nothing; leaves `conn` open.
 */
export async function preflight(conn: Redis, deadlineMs: number, opts: PreflightOptions = {}): Promise<void> {
  const prefix = opts.prefix ?? 'hway';
  checkPrefix(prefix);
  const keys = opts.keys ?? probeKeys(prefix);
  const d = new Deadline(deadlineMs);
  if (isCluster(conn)) {
    const c = conn as unknown as Cluster;
    const seeds = seedsOf((c as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? []);
    await checkClusterSeeds(seeds, c.options.redisOptions ?? {}, d.left(), c.options.natMap);
    const where = `Redis Cluster at ${seeds.map(addr).join(', ')}`;
    if (!(await ready(conn, d))) throw unavailable(`${where}: the cluster client did not become ready within ${deadlineMs} ms`);
    await probeScript(conn, keys, d, where);
    return;
  }
  const where = describe(conn);
  if (!(await ready(conn, d))) throw unavailable(`cannot reach ${where} (no answer within ${deadlineMs} ms)`);
  await checkNotClusterNode(conn, d.left());
  await probeScript(conn, keys, d, where);
}

/** "Redis at host:port" (or its socket path), for messages. */
function describe(conn: Redis): string {
  const o = conn.options;
  return `Redis at ${o.path ?? addr({ host: o.host ?? '127.0.0.1', port: o.port ?? 6379 })}`;
}

/**
 * A single-Redis connection (ready) must not point at a node of a Redis Cluster: it would see one
 * node's slots only, and every other key would answer MOVED. E_REDIS_MISCONFIGURED when it does.
 */
export async function checkNotClusterNode(conn: Redis, deadlineMs: number): Promise<void> {
  const where = describe(conn);
  let info: Record<string, string>;
  try {
    info = parseInfo(String(await within(conn.info('cluster'), deadlineMs)));
  } catch {
    // INFO refused (ACL, renamed command) or not answered: nothing to tell from it. Whether Redis
    // answers at all is for the caller's own commands (or the script probe) to find out.
    return;
  }
  if (info.cluster_enabled === '1') {
    const o = conn.options;
    throw misconfigured(`${where} is a Redis Cluster node: use --redis-cluster ${o.path ? 'HOST:PORT' : addr({ host: o.host ?? '127.0.0.1', port: o.port ?? 6379 })} instead of --redis`);
  }
}
