// Results and replies: call() values and errors, result(taskId) from another connection after a
// reconnect, a redelivered task answered from the store instead of running twice, client timeouts,
// and producers failing fast when Redis is away.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { HwayError } from '../errors.js';
import { createIngress, HwayClient, Keys, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { cleanup, freePort, quietLogger, REDIS_URL, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 4;
const prefix = testPrefix('results');
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
let client: HwayClient;
let ingress: Ingress;
const runs = new Map<string, number>();

beforeAll(async () => {
  client = new HwayClient({ redis: REDIS_URL, prefix, partitions: P, logger: quietLogger() });
  ingress = createIngress({
    redis: REDIS_URL,
    prefix,
    partitions: P,
    logger: quietLogger(),
    handlers: {
      add: async (t) => {
        runs.set(t.id, (runs.get(t.id) ?? 0) + 1);
        const { a, b } = t.payload as { a: number; b: number };
        return { sum: a + b, key: t.key, partition: t.partition, epoch: t.epoch };
      },
      deny: async () => {
        throw new HwayError('E_FORBIDDEN', 'not allowed', { permanent: true });
      },
      slow: async () => {
        await sleep(300);
        return 'slow done';
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

describe('results and replies', () => {
  it('call() resolves with the handler value, with the partition and fencing epoch of the task', async () => {
    const r = await client.call<{ sum: number; key: string; partition: number; epoch: number }>('add', { a: 2, b: 3 }, { key: 'vault-7' });
    expect(r.sum).toBe(5);
    expect(r.key).toBe('vault-7');
    expect(r.partition).toBe(partitionOf('vault-7', P));
    expect(r.epoch).toBe(ingress.epochOf(r.partition));
    expect(r.epoch).toBeGreaterThan(0);
  });

  it('call() rejects with an HwayError carrying the handler code', async () => {
    const e = await client.call('deny', {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HwayError);
    expect(e).toMatchObject({ code: 'E_FORBIDDEN', message: 'not allowed' });
  });

  it('result(taskId) works from a new connection after the producer went away, with and without the key', async () => {
    const first = new HwayClient({ redis: REDIS_URL, prefix, partitions: P, logger: quietLogger() });
    const id = await first.enqueue('add', { a: 20, b: 22 }, { key: 'vault-42' });
    await first.close();
    const later = new HwayClient({ redis: REDIS_URL, prefix, partitions: P, logger: quietLogger() });
    try {
      await waitFor(async () => (await later.result(id, { key: 'vault-42' })) !== null, 10_000, 'stored result');
      expect(await later.result(id)).toMatchObject({ ok: true, value: { sum: 42 } });
      expect(await later.result('no-such-task')).toBeNull();
      const ttl = await redis.pttl(keys.result(partitionOf('vault-42', P), id));
      expect(ttl).toBeGreaterThan(23 * 3600 * 1000);
    } finally {
      await later.close();
    }
  });

  it('a call() that times out on the client leaves the task running; its result can be fetched later', async () => {
    const e = await client.call('slow', {}, { id: 'slow-call', callTimeoutMs: 50 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'E_TIMEOUT' });
    await waitFor(async () => (await client.result('slow-call')) !== null, 10_000, 'slow result');
    expect(await client.result('slow-call')).toEqual({ ok: true, value: 'slow done' });
  });

  it('a task delivered again after its result was stored is answered from the store, not run twice', async () => {
    const listener = new Redis(REDIS_URL);
    try {
      const replies: string[] = [];
      listener.on('message', (_c: string, m: string) => replies.push(m));
      if (listener.status !== 'ready') await new Promise((r) => listener.once('ready', r));
      await listener.subscribe(keys.replyChannel(client.clientId));
      const r = await client.call<{ sum: number }>('add', { a: 1, b: 1 }, { id: 'redelivered' });
      expect(r.sum).toBe(2);
      await waitFor(() => replies.some((m) => m.startsWith('redelivered ')), 5000, 'the first reply');
      // What a crash between storing the result and XACK would leave behind (the script makes that
      // impossible; a duplicate entry is the same situation): an entry for a task that is done.
      const p = partitionOf('redelivered', P);
      const before = ingress.stats().answeredFromStore;
      await redis.xadd(keys.stream(p, 'default'), '*', 'i', 'redelivered', 'a', '1');
      await redis.publish(keys.wakeChannel(p), 'q');
      await waitFor(() => ingress.stats().answeredFromStore > before, 10_000, 'answered from store');
      expect(runs.get('redelivered')).toBe(1);
      await waitFor(() => replies.filter((m) => m.startsWith('redelivered ')).length === 2, 10_000, 're-published reply');
      expect(await redis.xlen(keys.stream(p, 'default'))).toBe(0);
    } finally {
      await listener.quit();
    }
  });

  it('producers get E_REDIS_UNAVAILABLE promptly when Redis is not there', async () => {
    const port = await freePort();
    const dead = new HwayClient({ redis: `redis://127.0.0.1:${port}`, prefix, partitions: P, logger: quietLogger(), unavailableAfterMs: 500 });
    try {
      const t0 = Date.now();
      const e1 = await dead.enqueue('add', { a: 1, b: 2 }).catch((x: unknown) => x);
      const e2 = await dead.call('add', { a: 1, b: 2 }).catch((x: unknown) => x);
      const e3 = await dead.result('x').catch((x: unknown) => x);
      for (const e of [e1, e2, e3]) expect(e).toMatchObject({ code: 'E_REDIS_UNAVAILABLE' });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await dead.close();
    }
  });
});
