// Scale-out: the sign pipeline with 1 and with 2 node processes, on one Redis and on a local Redis
// Cluster of 3 masters (+ 3 replicas, spec/helpers/redis-cluster.ts), all in the same run.
//
// Every node is its own process (bench/sign-node.ts, concurrency 50, auth off, one shared master key)
// and so is the producer (bench/sign-producer.ts: 64 vaults, 100 signs in flight in every row, so each
// row gets the same offered load). A row is measured once every node holds its share of the
// partitions (the leases have settled), after a warm-up. The four set-ups alternate, `--rounds` times;
// the table gives each one's median and its ratios to 1 node on the same Redis and to the single Redis
// with as many nodes. Everything runs on the same 2 cores, the cluster's six redis-servers included, so
// a second node process cannot add cores: the figure shows what scaling out costs or gains here, not
// what it would on separate machines.
//   npm run bench:scale-out [-- --seconds S] [--rounds R] [--json]
import { randomBytes } from 'node:crypto';
import { readClusterView } from '../actors/inspect/cluster-view.js';
import { connect, type ClusterConfig } from '../storage/redis.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { pollUntil } from '../spec/helpers/deadlines.js';
import { startCluster } from '../spec/helpers/redis-cluster.js';
import { ProducerProcess, type PhaseResult } from './producer-process.js';
import { startReadyChild } from './ready-child.js';
import type { SignNodeSetup } from './sign-node.js';
import { fmt, numArg, type Row, table, wantsJson } from './report.js';

const REDIS = process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379';
const MS = numArg('seconds', 4) * 1000;
const ROUNDS = numArg('rounds', 2);
const PARTITIONS = 64;
const IN_FLIGHT = 100;
const say = (s: string): void => {
  if (!wantsJson()) process.stderr.write(s + '\n');
};

type Source = string | ClusterConfig;

/** One measurement: `nodes` node processes on `src`, the producer in its own. */
async function measure(src: Source, nodes: number): Promise<PhaseResult> {
  const prefix = `hwb-so-${randomBytes(3).toString('hex')}`;
  const masterKeys = `1:${randomBytes(32).toString('hex')}`;
  const ids = Array.from({ length: nodes }, (_, i) => `${prefix}-n${i}`);
  const children = await Promise.all(
    ids.map((nodeId) => startReadyChild(new URL('./sign-node.ts', import.meta.url), [JSON.stringify({ redis: src, prefix, nodeId, masterKeys, concurrency: 50 } satisfies SignNodeSetup)], `node ${nodeId}`, 'ignore')),
  );
  const admin = connect(src, { maxRetriesPerRequest: null });
  try {
    // The leases settle: every partition owned, and no node above its share.
    const share = Math.ceil(PARTITIONS / nodes);
    await pollUntil(async () => {
      const v = await readClusterView(admin, { prefix, partitions: PARTITIONS, deadLetterLimit: 0, walletLimit: 0 });
      const owned = new Map<string, number>();
      for (const p of v.partitions) if (p.owner !== null) owned.set(p.owner, (owned.get(p.owner) ?? 0) + 1);
      return [...owned.values()].reduce((a, b) => a + b, 0) === PARTITIONS && owned.size === nodes && [...owned.values()].every((n) => n <= share);
    }, 'partition leases settled', { intervalMs: 200 });
    const producer = await ProducerProcess.start({ system: 'hway', redis: src, prefix, keys: 64 });
    try {
      await producer.run({ phase: 'closed', inFlight: IN_FLIGHT, ms: 2000 }); // warm-up: vault actors active on their owners, JIT warm
      return await producer.run({ phase: 'closed', inFlight: IN_FLIGHT, ms: MS });
    } finally {
      await producer.stop();
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await deleteKeysWithPrefix(admin, prefix);
    admin.disconnect();
  }
}

say('starting a local Redis Cluster (3 masters + 3 replicas) …');
const cluster = await startCluster();
const stopAll = (): Promise<void> => cluster.stop();
process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)));
const setups: { redis: 'single' | 'cluster'; src: Source; nodes: number }[] = [
  { redis: 'single', src: REDIS, nodes: 1 },
  { redis: 'single', src: REDIS, nodes: 2 },
  { redis: 'cluster', src: { cluster: cluster.seeds }, nodes: 1 },
  { redis: 'cluster', src: { cluster: cluster.seeds }, nodes: 2 },
];
const runs = new Map<string, PhaseResult[]>();
const key = (s: { redis: string; nodes: number }): string => `${s.redis}-${s.nodes}`;
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of setups) {
      say(`round ${r + 1}/${ROUNDS}: ${s.redis} Redis, ${s.nodes} node process${s.nodes > 1 ? 'es' : ''} …`);
      const res = await measure(s.src, s.nodes);
      runs.set(key(s), [...(runs.get(key(s)) ?? []), res]);
    }
  }
} finally {
  await stopAll();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (s: { redis: string; nodes: number }): number => median(runs.get(key(s))!.map((x) => x.rate));
const rows: Row[] = setups.map((s) => {
  const rs = runs.get(key(s))!;
  return {
    redis: s.redis === 'single' ? 'one Redis' : 'Redis Cluster, 3 masters',
    'node processes': s.nodes,
    'signs/s (median)': rate(s),
    'per round': rs.map((x) => fmt(x.rate)).join(' '),
    'p50 ms': median(rs.map((x) => x.p50)),
    'p99 ms': median(rs.map((x) => x.p99)),
    'vs 1 node, same Redis': `${fmt(rate(s) / rate({ redis: s.redis, nodes: 1 }), 2)}x`,
    'vs one Redis, same nodes': `${fmt(rate(s) / rate({ redis: 'single', nodes: s.nodes }), 2)}x`,
  };
});
if (wantsJson()) console.log(JSON.stringify({ seconds: MS / 1000, rounds: ROUNDS, inFlight: IN_FLIGHT, runs: Object.fromEntries(runs) }));
else console.log(table(`scale-out (same run; ${IN_FLIGHT} signs in flight; node concurrency 50; producer in its own process; everything on this machine's cores)`, rows));
process.exit(0);
