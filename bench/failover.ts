// Failover benchmark: how long a partition's tasks wait when its node dies. Two real `hway start`
// processes share a prefix; a producer keeps sending small vault tasks (vault:info) to every
// partition; node A is killed with SIGKILL; the figure is the time from the kill to the first task of
// one of A's partitions that completes afterwards (node B must see A's leases expire, take the
// partitions, reclaim their pending entries and run one). Repeated `--kills` times with fresh nodes.
//
//   npm run bench:failover [-- --kills 10] [-- --json] [-- --redis redis://127.0.0.1:6379]
//
// The lease is the CLI's default (2.5 s), so the figure is what a user of `hway start` gets; it is
// bounded below by the lease and above by lease + one renewal tick + the reclaim.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { Keys } from '../actors/ingress/keys.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { percentile, table, wantsJson } from './report.js';

const arg = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : d;
};
const REDIS = arg('redis', process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379');
const KILLS = Number(arg('kills', '5'));
const P = 16;
const HWAY = fileURLToPath(new URL('../bin/hway', import.meta.url));
const masterKey = `1:${randomBytes(32).toString('hex')}`;
const redis = new Redis(REDIS);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Auth off: the probes measure how soon a partition is served again, not token checks.
function startNode(id: string, prefix: string, dataDir: string): Promise<ChildProcess> {
  const proc = spawn(HWAY, ['start', '--json', '--redis', REDIS, '--prefix', prefix, '--partitions', String(P), '--node-id', id, '--data-dir', dataDir, '--no-gateway', '--insecure-no-auth'], {
    env: { ...process.env, HWAY_MASTER_KEY: masterKey, HWAY_LOG_LEVEL: 'error' }, // every probe of a vault that does not exist is archived with a warning
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`node ${id} exited with ${code} before it was ready`)));
    proc.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('"ready":true')) resolve(proc);
    });
  });
}

/** Partition → owning node id, from the lease keys. */
async function owners(keys: Keys): Promise<Map<number, string>> {
  const vals = await redis.mget(...Array.from({ length: P }, (_, p) => keys.lease(p)));
  return new Map(vals.flatMap((v, p) => (v === null ? [] : [[p, v.split('|')[0]!] as [number, string]])));
}

/** A vault id that hashes to partition p (tasks of a vault go to its partition). */
function idIn(p: number, salt: string): string {
  for (let i = 0; ; i++) if (partitionOf(`${salt}-${i}`, P) === p) return `${salt}-${i}`;
}

async function oneKill(round: number): Promise<number> {
  const prefix = `hwb-failover-${randomBytes(3).toString('hex')}`;
  const keys = new Keys(prefix);
  const dirs = [mkdtempSync(join(tmpdir(), 'hway-fo-a-')), mkdtempSync(join(tmpdir(), 'hway-fo-b-'))];
  const a = await startNode('a', prefix, dirs[0]!);
  const b = await startNode('b', prefix, dirs[1]!);
  const client = new HwayClient({ redis: REDIS, prefix, partitions: P });
  try {
    let own = await owners(keys);
    while ([...own.values()].filter((n) => n === 'a').length !== P / 2) {
      await sleep(100);
      own = await owners(keys);
    }
    const ofA = [...own].filter(([, n]) => n === 'a').map(([p]) => p);
    // Probes into A's partitions, one every 5 ms, from before the kill until one completes after it.
    const probes: Array<{ id: string; p: number }> = [];
    let stop = false;
    const producer = (async () => {
      for (let i = 0; !stop; i++) {
        const vaultId = idIn(ofA[i % ofA.length]!, `probe${round}x${i}`);
        probes.push({ id: await client.enqueue('vault:info', { vaultId }, { key: vaultId, maxRetries: 0 }), p: partitionOf(vaultId, P) });
        await sleep(5);
      }
    })();
    /** The probes (of `list`) whose outcome is stored. */
    const done = async (list: typeof probes): Promise<Set<string>> => {
      const pipe = redis.pipeline();
      for (const x of list) pipe.exists(keys.result(x.p, x.id));
      const res = (await pipe.exec()) ?? [];
      return new Set(list.filter((_, i) => Number(res[i]![1]) === 1).map((x) => x.id));
    };
    await sleep(500);
    a.kill('SIGKILL');
    const killedAt = performance.now();
    // Probes A had answered by the kill do not count; the first of the others to complete does.
    const answeredByA = await done([...probes]);
    let firstAfter = 0;
    while (firstAfter === 0) {
      await sleep(10);
      if ((await done(probes.filter((x) => !answeredByA.has(x.id)))).size > 0) firstAfter = performance.now();
    }
    stop = true;
    await producer;
    return firstAfter - killedAt;
  } finally {
    await client.close();
    a.kill('SIGKILL');
    b.kill('SIGTERM');
    await new Promise((r) => b.once('exit', r));
    await deleteKeysWithPrefix(redis, prefix);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const times: number[] = [];
for (let i = 1; i <= KILLS; i++) {
  const ms = await oneKill(i);
  times.push(ms);
  if (!wantsJson()) console.error(`kill ${i}/${KILLS}: first reclaimed task done ${ms.toFixed(0)} ms after SIGKILL`);
}
redis.disconnect();
const sorted = [...times].sort((x, y) => x - y);
const summary = { kills: KILLS, leaseMs: 2500, minMs: sorted[0]!, p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), maxMs: sorted[sorted.length - 1]!, timesMs: times };
if (wantsJson()) console.log(JSON.stringify(summary));
else {
  console.log(
    table('failover: SIGKILL of one of two nodes → first task of its partitions done on the other (ms)', [
      { kills: KILLS, 'lease ms': 2500, min: sorted[0]!, p50: summary.p50Ms, p90: summary.p90Ms, max: summary.maxMs, 'p50 / lease': summary.p50Ms / 2500 },
    ]),
  );
}
