// Membership and rebalancing with three nodes: every partition has exactly one owner, the split is
// even (floor/ceil of P/nodes), a node that stops hands its partitions to the others, and tasks of
// every partition keep completing throughout.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createIngress, IngressClient, Keys, type Ingress } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 16;
const prefix = testPrefix('rebalance');
const keys = new Keys(prefix);
const redis = testRedis();

afterAll(async () => {
  await cleanup(redis, prefix);
  await redis.quit();
});

async function leaseOwners(): Promise<string[]> {
  const vals = await Promise.all(Array.from({ length: P }, (_, p) => redis.get(keys.lease(p))));
  return vals.map((v) => (v ? v.split('|')[0]! : ''));
}

describe('rebalancing', () => {
  it('splits partitions evenly among three nodes and among two after one stops', async () => {
    const done = new Set<string>();
    const mk = (id: string) =>
      createIngress({ redis: REDIS, prefix, partitions: P, nodeId: id, leaseMs: 600, logger: quietLogger(), handlers: { t: async (t) => void done.add(t.id) } });
    const nodes: Ingress[] = [mk('node-1'), mk('node-2'), mk('node-3')];
    const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger() });
    const counts = () => nodes.map((n) => n.ownedPartitions().length);
    try {
      for (const n of nodes) await n.start();
      await waitFor(() => counts().join() === '6,5,5', 'a 6/5/5 split');
      const owners = await leaseOwners();
      expect(owners.filter((o) => o === '')).toEqual([]);
      for (const [i, n] of nodes.entries()) expect(owners.filter((o) => o === `node-${i + 1}`)).toHaveLength(n.ownedPartitions().length);
      // No partition is claimed twice: the owned sets are disjoint.
      const all = nodes.flatMap((n) => n.ownedPartitions());
      expect(new Set(all).size).toBe(P);

      const ids = await client.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ type: 't', payload: {}, opts: { key: `k${i}` } })));
      await nodes[1]!.stop();
      await waitFor(() => nodes[0]!.ownedPartitions().length + nodes[2]!.ownedPartitions().length === P, 'the two others to cover every partition');
      await waitFor(() => nodes[0]!.ownedPartitions().length === 8 && nodes[2]!.ownedPartitions().length === 8, 'an 8/8 split');
      const more = await client.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ type: 't', payload: {}, opts: { key: `m${i}` } })));
      await waitFor(() => [...ids, ...more].every((id) => done.has(id)), 'every task to complete');
    } finally {
      for (const n of nodes) await n.stop();
      await client.close();
    }
  });
});
