// Effect-once for registered task types: `task.applyOnce(effect, outcome)` runs a Redis effect and
// stores the task's outcome in one script. A task that runs again with the same id (here: a transient
// failure after the effect, retried by the ingress; in production, a node that died before storing
// the outcome) gets the stored outcome back and the effect is not applied a second time. A node that
// no longer holds the partition writes nothing.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { NodeInternals } from '../actors/node.js';
import { Keys } from '../actors/ingress/keys.js';
import { partitionOf } from '../actors/ingress/partition.js';
import { applyOnce } from '../storage/effects.js';
import { HANG_MS } from './helpers/deadlines.js';
import { testCluster, testRedis } from './helpers/node.js';

const cluster = testCluster('effect-once', 4);
const redis = testRedis();
let node: NodeInternals;
const runs = new Map<string, number>();

beforeAll(async () => {
  node = cluster.node();
  node.registerTask<{ account: string; amount: number }>('ledger:credit', {
    validate: (p) => p as { account: string; amount: number },
    handle: async ({ account, amount }, task) => {
      runs.set(task.id, (runs.get(task.id) ?? 0) + 1);
      const key = `${cluster.prefix}:balances:${task.slotTag}`;
      const outcome = await task.applyOnce({ keys: [key], commands: [['HINCRBY', key, account, amount]] }, { credited: amount, run: task.attempt });
      // The effect is written; this attempt now "dies" before its outcome is stored.
      if (task.attempt === 1) throw new Error('transient failure after the effect');
      return outcome;
    },
  });
  await node.start();
});

afterAll(async () => {
  redis.disconnect();
  await cluster.cleanup();
});

test('a task run twice applies its Redis effect once and answers the outcome of the run that applied it', async () => {
  const client = cluster.client({ callTimeoutMs: HANG_MS });
  const out = await client.call('ledger:credit', { account: 'alice', amount: 10 }, { id: 'credit-1', key: 'alice', maxRetries: 3 });
  expect(runs.get('credit-1')).toBe(2); // the handler did run twice
  expect(out).toEqual({ credited: 10, run: 1 }); // ...and the second run answered the first run's outcome
  const p = partitionOf('alice', cluster.partitions);
  expect(await redis.hget(`${cluster.prefix}:balances:{${p}}`, 'alice')).toBe('10');
});

test('applyOnce directly: applied once per task id; a stale fencing epoch writes nothing', async () => {
  const keys = new Keys(cluster.prefix);
  const partition = 2;
  const fence = Number(await redis.get(keys.epoch(partition)));
  expect(fence).toBeGreaterThan(0); // the node holds partition 2
  const key = `${cluster.prefix}:counter:{${partition}}`;
  const scope = { redis, keys, partition, fence, taskId: 'direct-1' };
  const effect = { keys: [key], commands: [['INCRBY', key, 5], ['EXPIRE', key, 600]] };
  expect(await applyOnce(scope, effect, { n: 1 })).toEqual({ applied: true, outcome: { n: 1 } });
  expect(await applyOnce(scope, effect, { n: 2 })).toEqual({ applied: false, outcome: { n: 1 } });
  expect(await redis.get(key)).toBe('5');

  await expect(applyOnce({ ...scope, taskId: 'direct-2', fence: fence - 1 }, effect, { n: 3 })).rejects.toMatchObject({ code: 'E_STALE_EPOCH' });
  expect(await redis.get(key)).toBe('5');
  expect(await redis.exists(keys.effect(partition, 'direct-2'))).toBe(0);
});
