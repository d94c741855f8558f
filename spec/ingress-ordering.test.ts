// Per-key order under concurrency: tasks of one key reach the handler one at a time and in arrival
// order; different keys run concurrently; the node never exceeds its in-flight cap.
import { afterAll, describe, expect, it } from '@jest/globals';
import { createIngress, IngressClient } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const redis = testRedis();
const prefix = testPrefix('order');

afterAll(async () => {
  await cleanup(redis, prefix);
  await redis.quit();
});

describe('per-key order', () => {
  it('runs each key in arrival order, one at a time, many keys concurrently, at most 10 in flight', async () => {
    const P = 8;
    const KEYS = 100;
    const PER_KEY = 20;
    const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger() });
    // Interleaved arrival across keys, half of them via enqueueMany and half via single enqueues.
    const items = [];
    for (let seq = 0; seq < PER_KEY; seq++) for (let k = 0; k < KEYS; k++) items.push({ type: 'step', payload: { k, seq }, opts: { key: `vault-${k}` } });
    const half = items.length / 2;
    await client.enqueueMany(items.slice(0, half));

    const seen = new Map<number, number[]>();
    const busy = new Set<number>();
    const violations: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    const ingress = createIngress({
      redis: REDIS,
      prefix,
      partitions: P,
      concurrency: 10,
      logger: quietLogger(),
      handlers: {
        step: async (t) => {
          const { k, seq } = t.payload as { k: number; seq: number };
          if (t.key !== `vault-${k}`) violations.push(`wrong key ${t.key}`);
          if (busy.has(k)) violations.push(`key ${k} ran twice at once`);
          busy.add(k);
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          const list = seen.get(k) ?? [];
          list.push(seq);
          seen.set(k, list);
          await sleep(Math.random() * 3);
          inFlight--;
          busy.delete(k);
          done++;
        },
      },
    });
    await ingress.start();
    for (const it of items.slice(half)) await client.enqueue(it.type, it.payload, it.opts);
    try {
      await waitFor(() => done === KEYS * PER_KEY, 'all tasks');
    } finally {
      await ingress.stop();
      await client.close();
    }
    expect(violations).toEqual([]);
    for (let k = 0; k < KEYS; k++) expect(seen.get(k)).toEqual(Array.from({ length: PER_KEY }, (_, i) => i));
    expect(maxInFlight).toBeLessThanOrEqual(10);
    expect(maxInFlight).toBeGreaterThan(1);
  });
});
