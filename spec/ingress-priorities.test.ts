// Weighted priorities (6/3/1 by default) and strict mode, with a real Redis and a backlog in all
// three priorities; plus the scheduler's exact shares in isolation.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createIngress, IngressClient, type Priority } from '../actors/ingress/index.js';
import { PriorityScheduler } from '../actors/ingress/scheduler.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 4;
const redis = testRedis();
const prefixes: string[] = [];

afterAll(async () => {
  for (const p of prefixes) await cleanup(redis, p);
  await redis.quit();
});

async function runBacklog(perPriority: number, strict: boolean): Promise<Priority[]> {
  const prefix = testPrefix(strict ? 'strict' : 'weighted');
  prefixes.push(prefix);
  const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger() });
  // Enqueued lowest priority first, so that arrival order works against the expected service order.
  const items = (['low', 'default', 'critical'] as Priority[]).flatMap((priority) =>
    Array.from({ length: perPriority }, (_, i) => ({ type: 'noop', payload: i, opts: { priority } })),
  );
  await client.enqueueMany(items);
  const order: Priority[] = [];
  const ingress = createIngress({
    redis: REDIS,
    prefix,
    partitions: P,
    concurrency: 10,
    strict,
    logger: quietLogger(),
    handlers: {
      noop: async (t) => {
        order.push(t.priority);
        await new Promise((r) => setImmediate(r));
      },
    },
  });
  await ingress.start();
  try {
    await waitFor(() => order.length === 3 * perPriority, 'all tasks');
  } finally {
    await ingress.stop();
    await client.close();
  }
  return order;
}

describe('priority scheduler (unit)', () => {
  it('serves exact 6/3/1 shares, interleaved, when all lanes have work', () => {
    const s = new PriorityScheduler();
    const lanes = [0, 1, 2].map(() => ({ ready: true, maybeMore: true }));
    const counts = [0, 0, 0];
    let longestCriticalRun = 0;
    let run = 0;
    for (let i = 0; i < 1000; i++) {
      const k = s.pick(lanes);
      counts[k]!++;
      run = k === 0 ? run + 1 : 0;
      longestCriticalRun = Math.max(longestCriticalRun, run);
    }
    expect(counts).toEqual([600, 300, 100]);
    expect(longestCriticalRun).toBeLessThanOrEqual(3);
  });

  it('waits for a lane that may have more rather than skipping it; skips exhausted lanes', () => {
    const s = new PriorityScheduler({ critical: 6, default: 3, low: 1 }, true);
    expect(s.pick([{ ready: false, maybeMore: true }, { ready: true, maybeMore: true }, { ready: true, maybeMore: true }])).toBe(-1);
    expect(s.pick([{ ready: false, maybeMore: false }, { ready: true, maybeMore: true }, { ready: true, maybeMore: true }])).toBe(1);
    const w = new PriorityScheduler();
    expect(w.pick([{ ready: false, maybeMore: false }, { ready: false, maybeMore: false }, { ready: true, maybeMore: false }])).toBe(2);
  });
});

describe('priorities against Redis', () => {
  it('weighted mode serves critical/default/low about 6/3/1 while all have a backlog', async () => {
    const order = await runBacklog(900, false);
    // In the first 900 starts no lane can run dry (critical needs 900/0.6 = 1500 starts to drain).
    const head = order.slice(0, 900);
    const share = (p: Priority) => head.filter((x) => x === p).length / head.length;
    expect(share('critical')).toBeGreaterThan(0.55);
    expect(share('critical')).toBeLessThan(0.65);
    expect(share('default')).toBeGreaterThan(0.25);
    expect(share('default')).toBeLessThan(0.35);
    expect(share('low')).toBeGreaterThan(0.06);
    expect(share('low')).toBeLessThan(0.14);
    // and every task ran exactly once
    expect(order.filter((x) => x === 'low')).toHaveLength(900);
    expect(order.filter((x) => x === 'critical')).toHaveLength(900);
  });

  it('strict mode starts no lower-priority task while a higher one is waiting', async () => {
    const order = await runBacklog(300, true);
    const lastCritical = order.lastIndexOf('critical');
    const firstDefault = order.indexOf('default');
    const lastDefault = order.lastIndexOf('default');
    const firstLow = order.indexOf('low');
    expect(lastCritical).toBe(299);
    expect(firstDefault).toBeGreaterThan(lastCritical);
    expect(firstLow).toBeGreaterThan(lastDefault);
  });
});
