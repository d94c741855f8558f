// Results and replies: call() values and errors, result(taskId) from another connection after a
// reconnect, a redelivered task answered from the store instead of running twice, client timeouts,
// and producers failing fast when Redis is away.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HwayError } from '../errors.js';
import { createIngress, IngressClient, Keys, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, freePort, quietLogger, REDIS, testRedis, testPrefix, wake, waitFor } from './fixtures/ingress-helpers.js';
import { HANG_MS, NEVER_MS } from './helpers/deadlines.js';

const P = 4;
const prefix = testPrefix('results');
const keys = new Keys(prefix);
const redis = testRedis();
let client: IngressClient;
let ingress: Ingress;
const runs = new Map<string, number>();
// The 'slow' handler runs until the test lets it finish: still running whenever the test needs it to be.
let finishSlow: () => void = () => undefined;
const slowMayFinish = new Promise<void>((r) => (finishSlow = r));

beforeAll(async () => {
  // Waiting for a result is ordinary work: a hang-only wait (tests of the client's timeout set their own).
  client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
  ingress = createIngress({
    redis: REDIS,
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
        await slowMayFinish;
        return 'slow done';
      },
    },
  });
  await ingress.start();
});

afterAll(async () => {
  finishSlow();
  await ingress?.stop();
  await client?.close();
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
    const first = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
    const id = await first.enqueue('add', { a: 20, b: 22 }, { key: 'vault-42' });
    await first.close();
    const later = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
    try {
      await waitFor(async () => (await later.result(id, { key: 'vault-42' })) !== null, 'stored result');
      expect(await later.result(id)).toMatchObject({ ok: true, value: { sum: 42 } });
      expect(await later.result('no-such-task')).toBeNull();
      const ttl = await redis.pttl(keys.result(partitionOf('vault-42', P), id));
      expect(ttl).toBeGreaterThan(23 * 3600 * 1000);
    } finally {
      await later.close();
    }
  });

  it('a call() that times out on the client leaves the task running; its result can be fetched later', async () => {
    // The handler cannot finish before it is let go below, so the call's 50 ms (the behaviour under
    // test) always runs out first, however slow the machine.
    const e = await client.call('slow', {}, { id: 'slow-call', callTimeoutMs: 50 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'E_TIMEOUT' });
    expect(await client.result('slow-call')).toBeNull(); // still running
    finishSlow();
    await waitFor(async () => (await client.result('slow-call')) !== null, 'slow result');
    expect(await client.result('slow-call')).toEqual({ ok: true, value: 'slow done' });
  });

  it('a task delivered again after its result was stored is answered from the store, not run twice', async () => {
    const listener = testRedis();
    try {
      const replies: string[] = [];
      listener.on('message', (_c: string, m: string) => replies.push(m));
      if (listener.status !== 'ready') await new Promise((r) => listener.once('ready', r));
      await listener.subscribe(keys.replyChannel(client.clientId));
      const r = await client.call<{ sum: number }>('add', { a: 1, b: 1 }, { id: 'redelivered' });
      expect(r.sum).toBe(2);
      await waitFor(() => replies.some((m) => m.startsWith('redelivered ')), 'the first reply');
      // What a crash between storing the result and XACK would leave behind (the script makes that
      // impossible; a duplicate entry is the same situation): an entry for a task that is done.
      const p = partitionOf('redelivered', P);
      const before = ingress.stats().answeredFromStore;
      await redis.xadd(keys.stream(p, 'default'), '*', 'i', 'redelivered', 'a', '1');
      await wake(redis, keys.wakeChannel(p));
      await waitFor(() => ingress.stats().answeredFromStore > before, 'answered from store');
      expect(runs.get('redelivered')).toBe(1);
      await waitFor(() => replies.filter((m) => m.startsWith('redelivered ')).length === 2, 're-published reply');
      expect(await redis.xlen(keys.stream(p, 'default'))).toBe(0);
    } finally {
      await listener.quit();
    }
  });

  it('producers get E_REDIS_UNAVAILABLE promptly when Redis is not there', async () => {
    const port = await freePort();
    // "Promptly" without a clock: the call's own wait for a result is longer than jest's limit, so a
    // call that waited for it would fail the test; each failure must come from the 500 ms
    // unavailableAfterMs given here (it names it), not from some longer wait or retry loop.
    const dead = new IngressClient({ redis: `redis://127.0.0.1:${port}`, prefix, partitions: P, logger: quietLogger(), unavailableAfterMs: 500, callTimeoutMs: NEVER_MS });
    try {
      const e1 = await dead.enqueue('add', { a: 1, b: 2 }).catch((x: unknown) => x);
      const e2 = await dead.call('add', { a: 1, b: 2 }).catch((x: unknown) => x);
      const e3 = await dead.result('x').catch((x: unknown) => x);
      for (const e of [e1, e2, e3]) expect(e).toMatchObject({ code: 'E_REDIS_UNAVAILABLE', message: expect.stringContaining('within 500 ms') });
    } finally {
      await dead.close();
    }
  });
});
