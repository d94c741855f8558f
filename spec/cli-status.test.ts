// `hway status` reads the cluster from Redis alone: the live node with the partitions it leases
// (owner and fencing epoch), its tasks by type and enclave health, queue depths per priority,
// scheduled tasks and dead letters; and for a prefix without nodes, unowned partitions and the backlog
// waiting for a node. `--watch` (not a terminal here) prints one view after another until SIGINT.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { HwayClient } from '../actors/client.js';
import type { NodeInternals as HwayNode } from '../actors/node.js';
import { hway, hwayLongRunning, quietLogger, stopLongRunning, type CliResult } from './helpers/cli.js';
import { pollUntil } from './helpers/deadlines.js';
import { REDIS, testCluster } from './helpers/node.js';

interface Status {
  nodes: Array<{ id: string; partitions: number; expiresInMs: number; state: string; stats: { tasks: Record<string, { done: number; failed: number }>; enclave: { loaded: boolean; calls: number } } | null }>;
  partitions: Array<{ partition: number; owner: string | null; epoch: number | null }>;
  queues: Record<'critical' | 'default' | 'low', { waiting: number; pending: number }> & { scheduled: number };
  deadLetters: number;
  wallets: { connections: number; live: number };
  deadLetterList: Array<{ id: string; type: string; error: { code: string } | null }>;
  tasks: Record<string, { done: number; failed: number }>;
  throughput?: Record<string, { done: number; failed: number }>;
}

const cluster = testCluster('cli-status');
const idle = testCluster('cli-status-idle', 4);
let node: HwayNode;

beforeAll(async () => {
  node = cluster.node({ nodeId: 'status-node', logger: quietLogger() });
  await node.start();
});
afterAll(async () => {
  await cluster.cleanup();
  await idle.cleanup();
});

test('a running node: its partitions, epochs, queues, scheduled tasks and dead letters', async () => {
  const c = cluster.client();
  await expect(c.vault.sign('ghost', 'aa'.repeat(32))).rejects.toMatchObject({ code: 'E_UNKNOWN_VAULT' });
  await c.enqueue('vault:info', { vaultId: 'later' }, { delayMs: 600_000 });
  await c.enqueue('vault:info', { vaultId: 'later2' }, { delayMs: 600_000 });

  // The node publishes its task counts every second: wait until they include the failed sign.
  let r: CliResult<Status> | undefined;
  await pollUntil(async () => {
    r = await hway<Status>(['status', '--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json']);
    return r.json.tasks?.['vault:sign']?.failed === 1;
  }, "the node's stats record to count the failed sign");
  expect(r!.code).toBe(0);
  const s = r!.json;
  // The fields it always had are all there (more were added, none renamed).
  expect(Object.keys(s)).toEqual(expect.arrayContaining(['deadLetters', 'nodes', 'partitions', 'queues', 'wallets']));
  expect(s.nodes).toEqual([expect.objectContaining({ id: 'status-node', partitions: cluster.partitions, expiresInMs: expect.any(Number), state: 'alive' })]);
  expect(s.tasks).toEqual({ 'vault:sign': { done: 0, failed: 1 } });
  expect(s.nodes[0]!.stats).toMatchObject({ tasks: s.tasks, enclave: { loaded: true } });
  expect(s.partitions).toHaveLength(cluster.partitions);
  s.partitions.forEach((p, i) => {
    expect(p.partition).toBe(i);
    expect(p.owner).toBe('status-node');
    expect(p.epoch).toBeGreaterThanOrEqual(1);
  });
  await expect(node.stats()).resolves.toMatchObject({ partitions: s.partitions.map((p) => p.partition) });
  expect(s.queues.scheduled).toBe(2);
  for (const prio of ['critical', 'default', 'low'] as const) expect(s.queues[prio]).toEqual({ waiting: 0, pending: 0 });
  expect(s.deadLetters).toBe(1);
  expect(s.deadLetterList).toEqual([expect.objectContaining({ type: 'vault:sign', error: expect.objectContaining({ code: 'E_UNKNOWN_VAULT' }) })]);
  expect(s.wallets).toMatchObject({ connections: 0, live: 0 });

  const human = await hway(['status', '--prefix', cluster.prefix, '--partitions', String(cluster.partitions)]);
  expect(human.code).toBe(0);
  expect(human.stdout).toMatch(/^nodes \(1\)/);
  expect(human.stdout).toMatch(/status-node\s+8\s/);
  expect(human.stdout).toContain(`partitions: ${cluster.partitions} of ${cluster.partitions} owned`);
  expect(human.stdout).toContain('dead letters: 1');
  expect(human.stdout).toMatch(/^ {2}vault:sign\s+0\s+1$/m);
});

test('--watch without a terminal: one JSON view per refresh, with tasks per second, until SIGINT (exit 0)', async () => {
  const args = ['status', '--watch', '--interval', '100', '--prefix', cluster.prefix, '--partitions', String(cluster.partitions), '--json'];
  const lines = (out: string): Status[] => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Status);
  const w = await hwayLongRunning(args, (out) => lines(out).length >= 2);
  try {
    for (const v of lines(w.stdout()).slice(0, 2)) {
      expect(v.nodes.map((n) => n.id)).toEqual(['status-node']);
      expect(v.throughput).toEqual(expect.any(Object));
    }
  } finally {
    expect(await stopLongRunning(w, 'SIGINT')).toBe(0);
  }
  const human = await hwayLongRunning(args.filter((a) => a !== '--json'), (out) => out.split('hway status: ').length > 2);
  expect(await stopLongRunning(human, 'SIGINT')).toBe(0);
  // Not a terminal: views are printed one after another, never with screen-clearing escapes.
  expect(human.stdout()).toMatch(/^nodes \(1\) under prefix/m);
  expect(human.stdout()).not.toContain('\x1b[');
});

test('no node: partitions unowned, the backlog shows per priority', async () => {
  const c = new HwayClient({ redis: REDIS, prefix: idle.prefix, partitions: idle.partitions });
  try {
    await c.enqueueMany([
      { type: 'vault:info', payload: { vaultId: 'a' }, opts: { priority: 'critical' } },
      { type: 'vault:info', payload: { vaultId: 'b' }, opts: { priority: 'critical' } },
      { type: 'vault:info', payload: { vaultId: 'c' }, opts: { priority: 'low' } },
    ]);
  } finally {
    await c.close();
  }
  const r = await hway<Status>(['status', '--json'], { env: { HWAY_PREFIX: idle.prefix, HWAY_PARTITIONS: String(idle.partitions) } });
  expect(r.code).toBe(0);
  expect(r.json.nodes).toEqual([]);
  expect(r.json.partitions.every((p) => p.owner === null)).toBe(true);
  expect(r.json.queues.critical.waiting).toBe(2);
  expect(r.json.queues.low.waiting).toBe(1);
  expect(r.json.queues.default.waiting).toBe(0);
});
