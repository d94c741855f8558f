// `hway status`: what the cluster looks like from Redis alone (no node needs to answer): live nodes
// from the membership set, partition owners and fencing epochs from the lease keys, queue depths per
// priority (entries are deleted once acknowledged, so XLEN is the backlog; XPENDING counts those
// delivered and not yet done), dead letters, and wallet connections of the signer gateway.
import type { Redis } from 'ioredis';
import { GwKeys } from '../../actors/gateway/keys.js';
import { countDeadLetters, Keys, PRIORITIES, GROUP, type Priority } from '../../actors/ingress/index.js';
import { clusterOptions, connectRedis, flagHelp, liveNodes, parseFlags, positionals, REDIS_FLAGS, table, type Command, type Io } from '../cli.js';

const FLAGS = { ...REDIS_FLAGS } as const;

const help = `hway status [flags]

Shows the cluster under --prefix: live nodes, partitions with their owner and fencing epoch, queue
depths per priority (waiting, and delivered but not yet done), scheduled tasks, dead letters, and
wallet connections of the signer gateway.

JSON: {"nodes":[{"id","partitions","expiresInMs"}],"partitions":[{"partition","owner","epoch"}],
       "queues":{"critical":{"waiting","pending"},"default":{…},"low":{…},"scheduled"},
       "deadLetters":N,"wallets":{"connections":N,"live":N}}

flags:
${flagHelp(FLAGS)}`;

export interface PartitionRow {
  partition: number;
  owner: string | null;
  epoch: number | null;
}

export interface StatusReport {
  nodes: Array<{ id: string; partitions: number; expiresInMs: number }>;
  partitions: PartitionRow[];
  queues: Record<Priority, { waiting: number; pending: number }> & { scheduled: number };
  deadLetters: number;
  wallets: { connections: number; live: number };
}

async function collect(r: Redis, prefix: string, P: number): Promise<StatusReport> {
  const keys = new Keys(prefix);
  // One pipeline per partition: a partition's keys share one Redis Cluster slot, and a cluster
  // client refuses a pipeline whose keys live on different nodes.
  const perPartition = await Promise.all(
    Array.from({ length: P }, (_, p) => {
      const pipe = r.pipeline();
      pipe.get(keys.lease(p));
      pipe.get(keys.epoch(p));
      pipe.zcard(keys.scheduled(p));
      for (const prio of PRIORITIES) {
        pipe.xlen(keys.stream(p, prio));
        pipe.xpending(keys.stream(p, prio), GROUP);
      }
      return pipe.exec().then((x) => x ?? []);
    }),
  );
  const res = perPartition.flat();
  const per = 3 + PRIORITIES.length * 2;
  const partitions: PartitionRow[] = [];
  const queues = { critical: { waiting: 0, pending: 0 }, default: { waiting: 0, pending: 0 }, low: { waiting: 0, pending: 0 }, scheduled: 0 };
  // A stream or group that does not exist yet answers with an error (NOGROUP): that is an empty queue.
  const val = (i: number): unknown => (res[i]?.[0] ? null : res[i]?.[1]);
  for (let p = 0; p < P; p++) {
    const base = p * per;
    const lease = val(base) as string | null;
    const counter = val(base + 1) as string | null;
    const bar = lease === null ? -1 : lease.lastIndexOf('|');
    partitions.push({
      partition: p,
      owner: lease === null ? null : lease.slice(0, bar),
      epoch: lease !== null ? Number(lease.slice(bar + 1)) : counter === null ? null : Number(counter),
    });
    queues.scheduled += Number(val(base + 2) ?? 0);
    PRIORITIES.forEach((prio, k) => {
      queues[prio].waiting += Number(val(base + 3 + 2 * k) ?? 0);
      const pend = val(base + 4 + 2 * k) as [number | string, ...unknown[]] | null;
      queues[prio].pending += Array.isArray(pend) ? Number(pend[0] ?? 0) : 0;
    });
  }
  const live = await liveNodes(r, prefix);
  const nodes = live.map((n) => ({ id: n.id, partitions: partitions.filter((x) => x.owner === n.id).length, expiresInMs: n.expiresInMs }));
  const deadLetters = await countDeadLetters({ redis: r, prefix, partitions: P });
  return { nodes, partitions, queues, deadLetters, wallets: await wallets(r, prefix) };
}

/** Gateway connections (see actors/gateway/keys.ts): the set of ids, live while their conn key exists. */
async function wallets(r: Redis, prefix: string): Promise<{ connections: number; live: number }> {
  const keys = new GwKeys(prefix);
  const ids = await r.smembers(keys.conns());
  if (ids.length === 0) return { connections: 0, live: 0 };
  // One EXISTS per connection key, sent together: correct wherever the keys' slots are.
  const res = await Promise.all(ids.map((id) => r.exists(keys.conn(id)).catch(() => 0)));
  return { connections: ids.length, live: res.filter((v) => v === 1).length };
}

function render(s: StatusReport, prefix: string): string {
  const lines: string[] = [];
  lines.push(`nodes (${s.nodes.length}) under prefix "${prefix}"`);
  if (s.nodes.length === 0) lines.push('  none running (start one with: hway start)');
  else lines.push(table([['  id', 'partitions', 'heartbeat expires in'], ...s.nodes.map((n) => [`  ${n.id}`, String(n.partitions), `${n.expiresInMs} ms`])]));
  const owned = s.partitions.filter((p) => p.owner !== null);
  lines.push('', `partitions: ${owned.length} of ${s.partitions.length} owned`);
  // One row per owner with its partition list keeps 64 partitions readable.
  const byOwner = new Map<string, PartitionRow[]>();
  for (const p of owned) byOwner.set(p.owner!, [...(byOwner.get(p.owner!) ?? []), p]);
  if (byOwner.size) {
    lines.push(
      table([
        ['  owner', 'partitions (epoch)'],
        ...[...byOwner].map(([o, ps]) => [`  ${o}`, ps.map((p) => `${p.partition}(${p.epoch})`).join(' ')]),
      ]),
    );
  }
  const unowned = s.partitions.filter((p) => p.owner === null).map((p) => p.partition);
  if (unowned.length) lines.push(`  unowned: ${unowned.join(' ')}`);
  lines.push('', 'queues');
  lines.push(table([['  priority', 'waiting', 'pending'], ...PRIORITIES.map((p) => [`  ${p}`, String(s.queues[p].waiting), String(s.queues[p].pending)])]));
  lines.push(`  scheduled: ${s.queues.scheduled}`);
  lines.push('', `dead letters: ${s.deadLetters}${s.deadLetters ? ' (hway dlq list)' : ''}`);
  lines.push(`wallets: ${s.wallets.live} connected${s.wallets.connections > s.wallets.live ? ` (${s.wallets.connections - s.wallets.live} stale)` : ''}`);
  return lines.join('\n');
}

export const command: Command = {
  name: 'status',
  summary: 'nodes, partitions and owners, queue depths, dead letters, wallets',
  help,
  async run(argv: string[], io: Io): Promise<number> {
    const { flags, args } = parseFlags(argv, FLAGS, io.env);
    positionals(args, []);
    const { redis, prefix, partitions } = clusterOptions(flags);
    const r = await connectRedis(redis);
    try {
      const s = await collect(r, prefix, partitions);
      io.out(s, render(s, prefix));
      return 0;
    } finally {
      r.disconnect();
    }
  },
};
