// Idempotent enqueue by task id, scheduled (delayed) tasks, and bulk enqueue.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createIngress, HwayClient, Keys, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { cleanup, quietLogger, REDIS_URL, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 4;
const prefix = testPrefix('enqueue');
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
let client: HwayClient;
let ingress: Ingress;
const runs = new Map<string, number>();
const startedAt = new Map<string, number>();

beforeAll(async () => {
  client = new HwayClient({ redis: REDIS_URL, prefix, partitions: P, logger: quietLogger() });
  ingress = createIngress({
    redis: REDIS_URL,
    prefix,
    partitions: P,
    logger: quietLogger(),
    handlers: {
      count: async (t) => {
        runs.set(t.id, (runs.get(t.id) ?? 0) + 1);
        startedAt.set(t.id, Date.now());
        await sleep(20);
        return { n: t.payload };
      },
    },
  });
  await ingress.start();
});

afterAll(async () => {
  await ingress.stop();
  await client.close();
  await cleanup(redis, prefix);
  await redis.quit();
});

describe('idempotent enqueue', () => {
  it('an id enqueued many times at once creates one task and runs once', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => client.enqueue('count', i, { id: 'same-id' })));
    expect(new Set(ids)).toEqual(new Set(['same-id']));
    await waitFor(async () => (await client.result('same-id')) !== null, 10_000, 'result');
    expect(runs.get('same-id')).toBe(1);
    // the first enqueue's payload won
    expect(await client.result('same-id')).toEqual({ ok: true, value: { n: 0 } });
  });

  it('re-enqueuing a completed id does not run it again; call() returns the stored result', async () => {
    await client.enqueue('count', 99, { id: 'same-id' });
    expect(await client.call('count', 123, { id: 'same-id', callTimeoutMs: 5000 })).toEqual({ n: 0 });
    await sleep(100);
    expect(runs.get('same-id')).toBe(1);
    const p = partitionOf('same-id', P);
    expect(await redis.xlen(keys.stream(p, 'default'))).toBe(0);
  });

  it('enqueueMany with duplicate ids in one batch creates each task once', async () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ type: 'count', payload: i, opts: { id: `bulk-${i % 100}` } }));
    const ids = await client.enqueueMany(items);
    expect(ids).toHaveLength(300);
    await waitFor(() => [...runs.keys()].filter((k) => k.startsWith('bulk-')).length === 100, 20_000, 'bulk tasks');
    await sleep(100);
    expect([...runs.entries()].filter(([k, n]) => k.startsWith('bulk-') && n !== 1)).toEqual([]);
  });
});

describe('bulk enqueue', () => {
  it('runs every task of a batch that lands in one partition, all priorities in the same millisecond', async () => {
    // The three streams of a partition share entry ids (same millisecond, same sequence): the node
    // must tell their entries apart.
    const items = (['critical', 'default', 'low'] as const).flatMap((priority) =>
      Array.from({ length: 50 }, (_, i) => ({ type: 'count', payload: i, opts: { id: `same-ms-${priority}-${i}`, key: 'one-vault', priority } })),
    );
    await client.enqueueMany(items);
    await waitFor(() => [...runs.keys()].filter((k) => k.startsWith('same-ms-')).length === 150, 30_000, 'all 150 tasks');
  });
});

describe('scheduled tasks', () => {
  it('runs delayed tasks no earlier than their time, in due order', async () => {
    const t0 = Date.now();
    await client.enqueue('count', 0, { id: 'later-400', delayMs: 400 });
    await client.enqueue('count', 0, { id: 'later-150', delayMs: 150 });
    await client.enqueue('count', 0, { id: 'at-250', runAt: new Date(t0 + 250) });
    await waitFor(() => runs.has('later-400'), 10_000, 'delayed task');
    expect(startedAt.get('later-150')! - t0).toBeGreaterThanOrEqual(150);
    expect(startedAt.get('at-250')! - t0).toBeGreaterThanOrEqual(250);
    expect(startedAt.get('later-400')! - t0).toBeGreaterThanOrEqual(400);
    expect(startedAt.get('later-150')!).toBeLessThan(startedAt.get('at-250')!);
    expect(startedAt.get('at-250')!).toBeLessThan(startedAt.get('later-400')!);
    // the scheduled set is empty again
    for (let p = 0; p < P; p++) expect(await redis.zcard(keys.scheduled(p))).toBe(0);
  });

  it('a delayed task is idempotent too and reports its state', async () => {
    await client.enqueue('count', 1, { id: 'later-dup', delayMs: 200 });
    await client.enqueue('count', 2, { id: 'later-dup', delayMs: 10 });
    const p = partitionOf('later-dup', P);
    expect(await redis.hget(keys.task(p, 'later-dup'), 'st')).toBe('scheduled');
    await waitFor(() => runs.has('later-dup'), 10_000, 'delayed dup');
    await sleep(100);
    expect(runs.get('later-dup')).toBe(1);
    expect(await client.result('later-dup')).toEqual({ ok: true, value: { n: 1 } });
  });
});
