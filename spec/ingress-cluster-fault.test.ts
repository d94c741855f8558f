// A master of a real 3+3 Redis Cluster is killed (SIGKILL) while two ingress nodes run tasks and a
// producer keeps enqueueing. Its replica is promoted and the tasks continue: every task whose enqueue
// was acknowledged completes. Enqueues and outcome writes WAIT for one replica (durability), so an
// acknowledged enqueue is on the replica that takes over; what runs twice is counted and reported
// (in flight at the kill, or an outcome stored on the dead master and not yet on its replica).
//
// The test starts its own cluster (it kills a node of it), so it runs in the single-Redis pass only.
import { afterAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createIngress, IngressClient, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { HwayError } from '../errors.js';
import { quietLogger } from './fixtures/ingress-helpers.js';
import { HANG_MS, pollUntil } from './helpers/deadlines.js';
import { ON_CLUSTER } from './helpers/node.js';
import { startCluster, type LocalCluster } from './helpers/redis-cluster.js';

const P = 16;
const TOTAL = 3000;
const BATCH = 100;
const durability = { replicas: 1, timeoutMs: 500 };

let cluster: LocalCluster | undefined;
const nodes: Ingress[] = [];
let client: IngressClient | undefined;

afterAll(async () => {
  await client?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await cluster?.stop();
}, HANG_MS);

(ON_CLUSTER ? describe.skip : describe)('a cluster master dies mid-run', () => {
  it('its replica takes over and every acknowledged task completes', async () => {
    cluster = await startCluster({ nodeTimeoutMs: 2000 });
    const redis = { cluster: cluster.seeds };
    const prefix = `hwt-clfault-${randomBytes(3).toString('hex')}`;
    const runs = new Map<string, number>();
    for (const id of ['a', 'b']) {
      const n = createIngress({
        redis,
        prefix,
        nodeId: `node-${id}`,
        partitions: P,
        concurrency: 20,
        leaseMs: 2000,
        durability,
        logger: quietLogger(),
        handlers: {
          noop: async (t) => {
            runs.set(t.id, (runs.get(t.id) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 2));
            return { i: (t.payload as { i: number }).i };
          },
        },
      });
      nodes.push(n);
      await n.start();
    }
    client = new IngressClient({ redis, prefix, partitions: P, durability, unavailableAfterMs: 5000, commandTimeoutMs: 5000, logger: quietLogger() });

    // The producer: batches with fixed ids, each retried until Redis acknowledges it (enqueue is
    // idempotent by id), as a producer that must not lose a task does.
    const ids = Array.from({ length: TOTAL }, (_, i) => `t-${i}`);
    let acknowledged = 0;
    let refused = 0;
    const produce = (async () => {
      for (let i = 0; i < TOTAL; i += BATCH) {
        const items = ids.slice(i, i + BATCH).map((id, j) => ({ type: 'noop', payload: { i: i + j }, opts: { id } }));
        for (;;) {
          try {
            await client!.enqueueMany(items);
            break;
          } catch (e) {
            if (!(e instanceof HwayError)) throw e;
            refused++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        acknowledged += items.length;
      }
    })();

    // Kill the master that serves the most partitions, once a third of the tasks ran.
    await pollUntil(() => runs.size >= TOTAL / 3, 'a third of the tasks run');
    const masters = await cluster.masters();
    const victim = masters[partitionOf('t-0', P) % masters.length]!;
    const runsAtKill = runs.size;
    await cluster.killMaster(victim);
    await cluster.waitForFailover(victim);
    await produce;
    expect(acknowledged).toBe(TOTAL);

    // Every task completes: its result is stored (the reply channel may have missed some across the
    // failover, so results are read back, not awaited).
    const missing = new Set(ids);
    await pollUntil(
      async () => {
        const left = [...missing];
        const found = await Promise.all(left.map((id) => client!.result(id, { partition: partitionOf(id, P) }).catch(() => null)));
        left.forEach((id, i) => {
          if (found[i]?.ok) missing.delete(id);
        });
        return missing.size === 0;
      },
      'every acknowledged task completed',
      { intervalMs: 500, ms: HANG_MS },
    );
    const twice = [...runs.values()].filter((n) => n > 1).length;
    console.log(
      `master ${victim} killed after ${runsAtKill}/${TOTAL} tasks ran; ${refused} enqueue batches refused and retried; ` +
        `0 of ${TOTAL} acknowledged tasks lost; ${twice} ran more than once (in flight or not yet replicated at the kill)`,
    );
    expect(missing.size).toBe(0);
    expect(runs.size).toBe(TOTAL);
  });
});
