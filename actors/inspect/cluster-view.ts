// The cluster as Redis shows it, read in one go: what `hway status` prints, what the cluster page of
// every node streams, and (per node, node-reads.ts) what /metrics counts. This folder is the only place
// outside a subsystem that knows its keys: the ingress's (Keys: leases, epochs, streams, scheduled and
// dead sets, membership), the gateway's (GwKeys: connections and their routes) and the nodes' stats
// records (stats-record.ts). No node has to answer: a dead node's leases and its last record are here.
//
// Everything read here may have been written by anyone with access to Redis (it is untrusted): strings
// are clipped, records parsed defensively, and what it yields is for display only.
import type { Redis } from 'ioredis';
import { GwKeys } from '../gateway/keys.js';
import { listDeadLetters, type DeadLetter } from '../ingress/deadletters.js';
import { GROUP, Keys, PRIORITIES, type Priority } from '../ingress/keys.js';
import { within } from '../within.js';
import { readMembers } from './members.js';
import { parseRecord, statsKey, STATS_RETAIN_MS, type NodeStatsRecord, type TaskCount } from './stats-record.js';

/** alive: its heartbeat is current. left: it stopped gracefully. dead: its heartbeat expired without a goodbye. */
export type NodeState = 'alive' | 'dead' | 'left';

export interface NodeRow {
  id: string;
  state: NodeState;
  /** Partitions whose lease it holds now (a dead node's run out within the lease time). */
  partitions: number;
  /** A live node: until its heartbeat expires (Redis's clock). null otherwise. */
  expiresInMs: number | null;
  /** How long ago it last wrote its stats record (null without one). */
  seenAgoMs: number | null;
  /** Its last stats record: tasks by type and enclave health (display only, see stats-record.ts). */
  stats: NodeStatsRecord | null;
}

export interface PartitionRow {
  partition: number;
  owner: string | null;
  epoch: number | null;
}

/** Per priority: entries in the stream (waiting or delivered, not yet done) and those delivered and not done. */
export type QueueDepths = Record<Priority, { waiting: number; pending: number }> & { scheduled: number };

export interface WalletRow {
  /** The connection id. */
  id: string;
  /** wallet or proof (a proof worker). */
  kind: string;
  account: string;
  /** The node that answered its handshake. */
  node: string;
  /** Connected at (ms, the node's clock). */
  since: number;
  /** The addresses (or miners) it proved, as it announced them. */
  addresses: string[];
}

export interface ClusterView {
  /** Live nodes (the membership), as `hway status --json` has always listed them, with more fields. */
  nodes: NodeRow[];
  partitions: PartitionRow[];
  queues: QueueDepths;
  deadLetters: number;
  wallets: { connections: number; live: number; list: WalletRow[] };
  /** Redis's clock (ms) when this was read. */
  at: number;
  /** Nodes not in the membership whose stats record is younger than STATS_RETAIN_MS: dead, or left. */
  offlineNodes: NodeRow[];
  /** The oldest dead letters (up to the reader's limit), without payloads. */
  deadLetterList: DeadLetter[];
  /** Task attempts by type, summed over the live nodes' records (each counts since it started). */
  tasks: Record<string, TaskCount>;
}

export interface ViewOptions {
  prefix: string;
  partitions: number;
  /** Dead letters listed (default 20; 0: count only). */
  deadLetterLimit?: number;
  /** Wallet connections listed (default 200; all are counted). */
  walletLimit?: number;
  /** A bound on the whole read (E_TIMEOUT): for a node's own connection, which waits while Redis is away. */
  ms?: number;
}

const MAX_TEXT = 200;
const clip = (s: unknown): string => (typeof s === 'string' ? s.slice(0, MAX_TEXT) : '');

export async function readClusterView(r: Redis, o: ViewOptions): Promise<ClusterView> {
  const read = readAll(r, o);
  return o.ms === undefined ? read : within(read, o.ms);
}

async function readAll(r: Redis, o: ViewOptions): Promise<ClusterView> {
  const [members, { partitions, queues, deadLetters }, records, wallets, deadLetterList] = await Promise.all([
    readMembers(r, o.prefix),
    readPartitions(r, o.prefix, o.partitions),
    r.hgetall(statsKey(o.prefix)),
    readWallets(r, o.prefix, o.walletLimit ?? 200),
    (o.deadLetterLimit ?? 20) > 0 ? listDeadLetters({ redis: r, prefix: o.prefix, partitions: o.partitions }, o.deadLetterLimit ?? 20) : Promise.resolve([]),
  ]);
  const now = members.now;
  const held = new Map<string, number>();
  for (const p of partitions) if (p.owner !== null) held.set(p.owner, (held.get(p.owner) ?? 0) + 1);
  const stats = new Map<string, NodeStatsRecord>();
  for (const [id, raw] of Object.entries(records)) {
    const rec = parseRecord(raw);
    if (rec !== undefined && rec.at >= now - STATS_RETAIN_MS) stats.set(id, rec);
  }
  const row = (id: string, state: NodeState, expiresInMs: number | null): NodeRow => {
    const s = stats.get(id) ?? null;
    return { id: clip(id), state, partitions: held.get(id) ?? 0, expiresInMs, seenAgoMs: s === null ? null : Math.max(0, now - s.at), stats: s };
  };
  const nodes = members.live.map((m) => row(m.id, 'alive', m.expiresInMs));
  const liveIds = new Set(members.live.map((m) => m.id));
  const offlineNodes = [...stats]
    .filter(([id]) => !liveIds.has(id))
    .map(([id, s]) => row(id, s.left ? 'left' : 'dead', null))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const tasks: Record<string, TaskCount> = {};
  for (const n of nodes) {
    for (const [type, c] of Object.entries(n.stats?.tasks ?? {})) {
      const t = (tasks[type] ??= { done: 0, failed: 0 });
      t.done += c.done;
      t.failed += c.failed;
    }
  }
  return { nodes, partitions, queues, deadLetters, wallets, at: now, offlineNodes, deadLetterList, tasks };
}

/**
 * Owner and fencing epoch of every partition (lease value "<nodeId>|<epoch>", see storage/lease-store.ts;
 * an unowned one shows its last epoch), queue depths and dead letters. One pipeline per partition: a
 * partition's keys share one Redis Cluster slot, and a cluster client refuses a pipeline across nodes.
 */
async function readPartitions(r: Redis, prefix: string, P: number): Promise<{ partitions: PartitionRow[]; queues: QueueDepths; deadLetters: number }> {
  const keys = new Keys(prefix);
  const perPartition = await Promise.all(
    Array.from({ length: P }, (_, p) => {
      const pipe = r.pipeline();
      pipe.get(keys.lease(p));
      pipe.get(keys.epoch(p));
      pipe.zcard(keys.scheduled(p));
      pipe.zcard(keys.dead(p));
      for (const prio of PRIORITIES) {
        pipe.xlen(keys.stream(p, prio));
        pipe.xpending(keys.stream(p, prio), GROUP);
      }
      return pipe.exec().then((x) => x ?? []);
    }),
  );
  const partitions: PartitionRow[] = [];
  const queues: QueueDepths = { critical: { waiting: 0, pending: 0 }, default: { waiting: 0, pending: 0 }, low: { waiting: 0, pending: 0 }, scheduled: 0 };
  let deadLetters = 0;
  perPartition.forEach((res, p) => {
    // A stream or group that does not exist yet answers with an error (NOGROUP): that is an empty queue.
    const val = (i: number): unknown => (res[i]?.[0] ? null : res[i]?.[1]);
    const lease = val(0) as string | null;
    const counter = val(1) as string | null;
    const bar = lease === null ? -1 : lease.lastIndexOf('|');
    partitions.push({
      partition: p,
      owner: lease === null ? null : clip(lease.slice(0, bar)),
      epoch: lease !== null ? Number(lease.slice(bar + 1)) : counter === null ? null : Number(counter),
    });
    queues.scheduled += Number(val(2) ?? 0);
    deadLetters += Number(val(3) ?? 0);
    PRIORITIES.forEach((prio, k) => {
      queues[prio].waiting += Number(val(4 + 2 * k) ?? 0);
      const pend = val(5 + 2 * k) as [number | string, ...unknown[]] | null;
      queues[prio].pending += Array.isArray(pend) ? Number(pend[0] ?? 0) : 0;
    });
  });
  return { partitions, queues, deadLetters };
}

/**
 * The gateway's connections (actors/gateway/keys.ts; fields as gw_register.lua writes them): the set of
 * ids, each live while its `conn` hash exists (account, kind, node), its routes in `conninfo` (a field
 * per route key, its value JSON with the announced spelling `a`). The connection's key record (`_auth`)
 * is never copied out. All keys carry the one hash tag {gw}: these pipelines are single-slot.
 */
async function readWallets(r: Redis, prefix: string, limit: number): Promise<ClusterView['wallets']> {
  const gw = new GwKeys(prefix);
  const ids = await r.smembers(gw.conns());
  if (ids.length === 0) return { connections: 0, live: 0, list: [] };
  const heads = r.pipeline();
  for (const id of ids) heads.hgetall(gw.conn(id));
  const hs = (await heads.exec()) ?? [];
  const live = ids
    .map((id, i) => ({ id, h: (hs[i]?.[0] ? {} : (hs[i]?.[1] ?? {})) as Record<string, string> }))
    .filter((c) => Object.keys(c.h).length > 0);
  const shown = live.slice(0, limit);
  const infos = r.pipeline();
  for (const c of shown) infos.hgetall(gw.connInfo(c.id));
  const is = shown.length ? ((await infos.exec()) ?? []) : [];
  const list: WalletRow[] = shown.map((c, i) => {
    const info = (is[i]?.[0] ? {} : (is[i]?.[1] ?? {})) as Record<string, string>;
    const addresses = new Set<string>();
    for (const [field, raw] of Object.entries(info)) {
      if (field.startsWith('_')) continue;
      try {
        const a = (JSON.parse(raw) as { a?: unknown }).a;
        if (typeof a === 'string') addresses.add(clip(a));
      } catch {
        // a malformed route entry: not shown
      }
    }
    return { id: clip(c.id), kind: clip(c.h.kind), account: clip(c.h.account), node: clip(c.h.node), since: Number(info._since) || 0, addresses: [...addresses].sort() };
  });
  list.sort((a, b) => a.since - b.since || (a.id < b.id ? -1 : 1));
  return { connections: ids.length, live: live.length, list };
}
