// Graceful stop: a node that stops keeps its leases renewed while its in-flight tasks finish (even
// when that takes longer than the lease TTL), so no other node claims and re-runs them; then it
// releases the leases and another node takes the partitions over.
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createIngress, HwayClient, Keys } from '../actors/ingress/index.js';
import { cleanup, quietLogger, REDIS_URL, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 4;
const prefix = testPrefix('shutdown');
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);

afterAll(async () => {
  await cleanup(redis, prefix);
  await redis.quit();
});

async function owners(): Promise<string[]> {
  const vals = await Promise.all(Array.from({ length: P }, (_, p) => redis.get(keys.lease(p))));
  return vals.map((v) => (v ? v.split('|')[0]! : ''));
}

describe('graceful stop', () => {
  it('finishes in-flight tasks under its leases for longer than the lease TTL, then hands over', async () => {
    const runs = new Map<string, string[]>();
    const running = new Set<string>();
    const handler = (node: string) => async (t: { id: string }) => {
      runs.set(t.id, [...(runs.get(t.id) ?? []), node]);
      running.add(t.id);
      await sleep(1500);
      running.delete(t.id);
      return node;
    };
    const common = { redis: REDIS_URL, prefix, partitions: P, leaseMs: 450, logger: quietLogger() };
    const a = createIngress({ ...common, nodeId: 'node-a', handlers: { long: handler('node-a') } });
    const b = createIngress({ ...common, nodeId: 'node-b', handlers: { long: handler('node-b') } });
    const client = new HwayClient({ redis: REDIS_URL, prefix, partitions: P, logger: quietLogger() });
    try {
      await a.start();
      expect(a.ownedPartitions()).toHaveLength(P);
      const ids = await client.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ type: 'long', payload: {}, opts: { id: `long-${i}` } })));
      await waitFor(() => running.size === 6, 10_000, 'six tasks running on node-a');
      await b.start();
      const stopped = a.stop();
      await sleep(1000); // more than twice the lease TTL
      expect(await owners()).toEqual(Array(P).fill('node-a'));
      await stopped;
      for (const id of ids) expect(runs.get(id)).toEqual(['node-a']);
      expect((await client.result(ids[0]!))?.ok).toBe(true);
      await waitFor(async () => (await owners()).every((o) => o === 'node-b'), 10_000, 'node-b to take every partition');
      await sleep(300);
      for (const id of ids) expect(runs.get(id)).toEqual(['node-a']);
    } finally {
      await a.stop();
      await b.stop();
      await client.close();
    }
  });
});
