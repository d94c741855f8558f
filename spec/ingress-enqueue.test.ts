// Idempotent enqueue by task id, scheduled (delayed) tasks, and bulk enqueue.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createIngress, IngressClient, Keys, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';
import { HANG_MS } from './helpers/deadlines.js';

const P = 4;
const prefix = testPrefix('enqueue');
const keys = new Keys(prefix);
const redis = testRedis();
let client: IngressClient;
let ingress: Ingress;
const runs = new Map<string, number>();
const startedAt = new Map<string, number>();
const startOrder: string[] = [];

/** `n` distinct task keys that fall in one partition. */
function keysOfOnePartition(n: number): string[] {
  const byPart = new Map<number, string[]>();
  for (let i = 0; ; i++) {
    const k = `sched-${i}`;
    const list = byPart.get(partitionOf(k, P)) ?? [];
    list.push(k);
    byPart.set(partitionOf(k, P), list);
    if (list.length === n) return list;
  }
}

beforeAll(async () => {
  // Waiting for a result is ordinary work: a hang-only wait.
  client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
  ingress = createIngress({
    redis: REDIS,
    prefix,
    partitions: P,
    logger: quietLogger(),
    handlers: {
      count: async (t) => {
        runs.set(t.id, (runs.get(t.id) ?? 0) + 1);
        startedAt.set(t.id, Date.now());
        startOrder.push(t.id);
        await sleep(20);
        return { n: t.payload };
      },
    },
  });
  await ingress.start();
});

afterAll(async () => {
  await ingress?.stop();
  await client?.close();
  await cleanup(redis, prefix);
  await redis.quit();
});

describe('idempotent enqueue', () => {
  it('an id enqueued many times at once creates one task and runs once', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => client.enqueue('count', i, { id: 'same-id' })));
    expect(new Set(ids)).toEqual(new Set(['same-id']));
    await waitFor(async () => (await client.result('same-id')) !== null, 'result');
    expect(runs.get('same-id')).toBe(1);
    // the first enqueue's payload won
    expect(await client.result('same-id')).toEqual({ ok: true, value: { n: 0 } });
  });

  it('re-enqueuing a completed id does not run it again; call() returns the stored result', async () => {
    await client.enqueue('count', 99, { id: 'same-id' });
    expect(await client.call('count', 123, { id: 'same-id' })).toEqual({ n: 0 });
    await sleep(100);
    expect(runs.get('same-id')).toBe(1);
    const p = partitionOf('same-id', P);
    expect(await redis.xlen(keys.stream(p, 'default'))).toBe(0);
  });

  it('enqueueMany with duplicate ids in one batch creates each task once', async () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ type: 'count', payload: i, opts: { id: `bulk-${i % 100}` } }));
    const ids = await client.enqueueMany(items);
    expect(ids).toHaveLength(300);
    await waitFor(() => [...runs.keys()].filter((k) => k.startsWith('bulk-')).length === 100, 'bulk tasks');
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
    await waitFor(() => [...runs.keys()].filter((k) => k.startsWith('same-ms-')).length === 150, 'all 150 tasks');
  });
});

describe('scheduled tasks', () => {
  it('runs delayed tasks no earlier than their time, in due order', async () => {
    // Three keys of one partition: due order is kept within a partition (partitions are served
    // independently, possibly by different nodes), and there it holds exactly, at any speed.
    const [k400, k150, k250] = keysOfOnePartition(3) as [string, string, string];
    const ids = ['later-400', 'later-150', 'at-250'];
    const t0 = Date.now();
    await client.enqueue('count', 0, { id: 'later-400', key: k400, delayMs: 400 });
    await client.enqueue('count', 0, { id: 'later-150', key: k150, delayMs: 150 });
    await client.enqueue('count', 0, { id: 'at-250', key: k250, runAt: new Date(Date.now() + 250) });
    await waitFor(() => ids.every((id) => runs.has(id)), 'the delayed tasks');
    // No earlier than their time (lower bounds: a busy machine only makes them later).
    expect(startedAt.get('later-150')! - t0).toBeGreaterThanOrEqual(150);
    expect(startedAt.get('at-250')! - t0).toBeGreaterThanOrEqual(250);
    expect(startedAt.get('later-400')! - t0).toBeGreaterThanOrEqual(400);
    // In due order. Each due time is the one stored at enqueue (Redis clock then, plus the delay):
    // normally 150 < 250 < 400 ms after t0, but a slow enqueue makes its task due later, so the
    // expected order is read from the stored times rather than assumed.
    const p = partitionOf(k400, P);
    const due = new Map<string, number>();
    for (const id of ids) due.set(id, Number(await redis.hget(keys.task(p, id), 'due')));
    for (const id of ids) expect({ id, started: startedAt.get(id)! >= due.get(id)! }).toEqual({ id, started: true });
    const byDue = [...ids].sort((a, b) => due.get(a)! - due.get(b)! || (a < b ? -1 : 1));
    expect(startOrder.filter((id) => ids.includes(id))).toEqual(byDue);
    // the scheduled set is empty again
    for (let p = 0; p < P; p++) expect(await redis.zcard(keys.scheduled(p))).toBe(0);
  });

  it('a delayed task is idempotent too and reports its state', async () => {
    // Its state is read while it certainly still waits: due in 10 minutes, a second enqueue with an
    // earlier time neither creates another task nor moves it.
    const far = partitionOf('later-far', P);
    await client.enqueue('count', 1, { id: 'later-far', delayMs: 10 * 60_000 });
    const dueFar = await redis.hget(keys.task(far, 'later-far'), 'due');
    await client.enqueue('count', 2, { id: 'later-far', delayMs: 10 });
    expect(await redis.hget(keys.task(far, 'later-far'), 'st')).toBe('scheduled');
    expect(await redis.hget(keys.task(far, 'later-far'), 'due')).toBe(dueFar);
    expect(await redis.zscore(keys.scheduled(far), 'later-far')).toBe(dueFar);
    // One that comes due runs once, with the first enqueue's payload.
    await client.enqueue('count', 1, { id: 'later-dup', delayMs: 200 });
    await client.enqueue('count', 2, { id: 'later-dup', delayMs: 10 });
    await waitFor(() => runs.has('later-dup'), 'delayed dup');
    await sleep(100);
    expect(runs.get('later-dup')).toBe(1);
    expect(await client.result('later-dup')).toEqual({ ok: true, value: { n: 1 } });
  });
});
