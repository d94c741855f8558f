// Graceful stop: a node that stops keeps its leases renewed while its in-flight tasks finish (even
// when that takes longer than the lease TTL), so no other node claims and re-runs them; then it
// releases the leases and another node takes the partitions over.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createIngress, IngressClient, Keys } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';
import { HANG_MS } from './helpers/deadlines.js';

const P = 4;
const prefix = testPrefix('shutdown');
const keys = new Keys(prefix);
const redis = testRedis();

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
    // The tasks run until the test lets them finish: they are certainly still in flight when the
    // leases are checked below, however long starting node-b and stopping node-a take.
    let finish: () => void = () => undefined;
    const mayFinish = new Promise<void>((r) => (finish = r));
    const handler = (node: string) => async (t: { id: string }) => {
      runs.set(t.id, [...(runs.get(t.id) ?? []), node]);
      running.add(t.id);
      await mayFinish;
      running.delete(t.id);
      return node;
    };
    // Renewed every LEASE_MS / 3: a lease lapses only if node-a's renewals stall for 2/3 of it.
    const LEASE_MS = 1500;
    // The drain waits for in-flight tasks as long as they take (shutdownMs hang-only): here, until finish().
    const common = { redis: REDIS, prefix, partitions: P, leaseMs: LEASE_MS, shutdownMs: HANG_MS, logger: quietLogger() };
    const a = createIngress({ ...common, nodeId: 'node-a', handlers: { long: handler('node-a') } });
    const b = createIngress({ ...common, nodeId: 'node-b', handlers: { long: handler('node-b') } });
    const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger() });
    try {
      await a.start();
      expect(a.ownedPartitions()).toHaveLength(P);
      const ids = await client.enqueueMany(Array.from({ length: 6 }, (_, i) => ({ type: 'long', payload: {}, opts: { id: `long-${i}` } })));
      await waitFor(() => running.size === 6, 'six tasks running on node-a');
      await b.start();
      const stopped = a.stop();
      // More than twice the lease TTL: had node-a stopped renewing while it drains, node-b would have
      // taken partitions by now. (A busy machine only makes this wait longer.)
      await sleep(2 * LEASE_MS + 100);
      expect(running.size).toBe(6);
      expect(await owners()).toEqual(Array(P).fill('node-a'));
      finish();
      await stopped;
      for (const id of ids) expect(runs.get(id)).toEqual(['node-a']);
      expect((await client.result(ids[0]!))?.ok).toBe(true);
      await waitFor(async () => (await owners()).every((o) => o === 'node-b'), 'node-b to take every partition');
      await sleep(300);
      for (const id of ids) expect(runs.get(id)).toEqual(['node-a']);
    } finally {
      finish();
      await a.stop();
      await b.stop();
      await client.close();
    }
  });
});
