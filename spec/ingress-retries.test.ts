// Retries with exponential backoff, permanent errors straight to the dead letters, exhausted retries,
// bad entries that must not crash the consumer, and the dead-letter operations.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HwayError } from '../errors.js';
import {
  countDeadLetters,
  createIngress,
  deleteDeadLetter,
  IngressClient,
  inspectDeadLetter,
  Keys,
  listDeadLetters,
  partitionOf,
  requeueDeadLetter,
  type Ingress,
} from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, testPrefix, wake, waitFor } from './fixtures/ingress-helpers.js';
import { HANG_MS } from './helpers/deadlines.js';

const P = 4;
const prefix = testPrefix('retries');
const keys = new Keys(prefix);
const redis = testRedis();
const dl = { redis, prefix, partitions: P };
let client: IngressClient;
let ingress: Ingress;
const attempts = new Map<string, number[]>();
let healed = false;

function note(id: string): number[] {
  const a = attempts.get(id) ?? [];
  a.push(Date.now());
  attempts.set(id, a);
  return a;
}

beforeAll(async () => {
  // Waiting for a result is ordinary work: a hang-only wait.
  client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
  ingress = createIngress({
    redis: REDIS,
    prefix,
    partitions: P,
    logger: quietLogger(),
    retry: { baseMs: 100, maxMs: 1000 },
    leaseMs: 600,
    staleMs: 400,
    handlers: {
      flaky: async (t) => {
        const a = note(t.id);
        if (a.length < 3) throw new Error('transient failure');
        return { attempt: t.attempt };
      },
      broken: async (t) => {
        note(t.id);
        throw new HwayError('E_ENCLAVE', 'enclave crashed');
      },
      wrongPassword: async (t) => {
        note(t.id);
        if (!healed) throw new HwayError('E_WRONG_PASSWORD', 'wrong password', { permanent: true });
        return 'ok now';
      },
      slow: async (t) => {
        note(t.id);
        // Never finishes on its own (only when its attempt is aborted): the 50 ms attempt timeout it
        // meets is the behaviour under test, and no machine is slow enough to let it answer first.
        await new Promise((r) => t.signal.addEventListener('abort', r, { once: true }));
        return 'late';
      },
      echo: async (t) => t.payload,
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

describe('retries and dead letters', () => {
  it('retries a transient failure with exponential backoff and then succeeds', async () => {
    const value = await client.call('flaky', {}, { id: 'flaky-1', maxRetries: 3 });
    expect(value).toEqual({ attempt: 3 });
    const [t1, t2, t3] = attempts.get('flaky-1')!;
    // equal jitter: retry n waits at least half of base * 2^(n-1)
    expect(t2! - t1!).toBeGreaterThanOrEqual(50);
    expect(t3! - t2!).toBeGreaterThanOrEqual(100);
  });

  it('archives a task whose retries are exhausted, with the handler error code for the producer', async () => {
    const err = await client.call('broken', {}, { id: 'broken-1', maxRetries: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HwayError);
    expect((err as HwayError).code).toBe('E_ENCLAVE');
    expect(attempts.get('broken-1')).toHaveLength(2);
    const d = await inspectDeadLetter(dl, 'broken-1');
    expect(d).toMatchObject({ id: 'broken-1', type: 'broken', attempts: 2, error: { code: 'E_ENCLAVE' } });
  });

  it('sends a permanent error straight to the dead letters without retrying', async () => {
    const err = await client.call('wrongPassword', { secret: 'x' }, { id: 'perm-1', maxRetries: 5 }).catch((e: unknown) => e);
    expect((err as HwayError).code).toBe('E_WRONG_PASSWORD');
    expect(attempts.get('perm-1')).toHaveLength(1);
    const d = await inspectDeadLetter(dl, 'perm-1');
    expect(d?.payload).toEqual({ secret: 'x' });
    expect(d?.error?.code).toBe('E_WRONG_PASSWORD');
  });

  it('archives unknown types as E_UNKNOWN_TYPE', async () => {
    const err = await client.call('no-such-type', {}, { id: 'unknown-1' }).catch((e: unknown) => e);
    expect((err as HwayError).code).toBe('E_UNKNOWN_TYPE');
    expect((await inspectDeadLetter(dl, 'unknown-1'))?.error?.code).toBe('E_UNKNOWN_TYPE');
  });

  it('a timed-out attempt fails with E_TIMEOUT', async () => {
    const err = await client.call('slow', {}, { id: 'slow-1', timeoutMs: 50, maxRetries: 0 }).catch((e: unknown) => e);
    expect((err as HwayError).code).toBe('E_TIMEOUT');
  });

  it('survives bad entries: an unparsable payload is archived, an entry without a task is dropped', async () => {
    const p = partitionOf('bad-1', P);
    await redis.hset(keys.task(p, 'bad-1'), { type: 'echo', payload: '{not json', key: 'bad-1', prio: 'default', max: '3', tmo: '0', reply: '', enq: '0', att: '1', st: 'pending' });
    await redis.xadd(keys.stream(p, 'default'), '*', 'i', 'bad-1', 'a', '1');
    await redis.xadd(keys.stream(p, 'critical'), '*', 'garbage', 'yes');
    await redis.xadd(keys.stream(p, 'low'), '*', 'i', 'ghost-task', 'a', '1');
    await wake(redis, keys.wakeChannel(p));
    await waitFor(async () => (await inspectDeadLetter(dl, 'bad-1', { partition: p })) !== null, 'bad payload archived');
    expect((await inspectDeadLetter(dl, 'bad-1'))?.error?.code).toBe('E_BAD_PAYLOAD');
    await waitFor(() => ingress.stats().dropped >= 2, 'garbage entries dropped');
    // the consumer still works
    expect(await client.call('echo', { still: 'alive' })).toEqual({ still: 'alive' });
    expect(await redis.xlen(keys.stream(p, 'critical'))).toBe(0);
  });

  it('takes up again an entry left pending on this node without being held (outcome never written)', async () => {
    // What a failed outcome write leaves behind: an entry delivered to this node's consumer name
    // that the node no longer holds. The periodic sweep claims it after staleMs.
    const p = partitionOf('orphan-1', P);
    await client.enqueue('echo', { orphan: true }, { id: 'orphan-1', delayMs: 60_000 });
    await redis.zrem(keys.scheduled(p), 'orphan-1');
    await redis.hset(keys.task(p, 'orphan-1'), 'st', 'pending');
    const stream = keys.stream(p, 'default');
    // Added and delivered to this node's consumer name in one script, so that the running consumer
    // cannot fetch the entry in between (it would then just run it, and this test would test nothing).
    const got = (await redis.eval(
      "redis.call('XADD', KEYS[1], '*', 'i', 'orphan-1', 'a', '1') return redis.call('XREADGROUP', 'GROUP', 'hway', ARGV[1], 'COUNT', 1, 'STREAMS', KEYS[1], '>')",
      1,
      stream,
      ingress.nodeId,
    )) as Array<[string, Array<[string, string[]]>]>;
    expect(got[0]![1][0]![1]).toEqual(['i', 'orphan-1', 'a', '1']);
    await waitFor(async () => (await client.result('orphan-1')) !== null, 'the orphaned entry to run');
    expect(await client.result('orphan-1')).toEqual({ ok: true, value: { orphan: true } });
  });

  it('lists, requeues and deletes dead letters', async () => {
    const list = await listDeadLetters(dl);
    const ids = list.map((d) => d.id);
    expect(ids).toEqual(expect.arrayContaining(['broken-1', 'perm-1', 'unknown-1', 'bad-1', 'slow-1']));
    expect(list.every((d) => !('payload' in d))).toBe(true);
    const before = await countDeadLetters(dl);

    healed = true;
    expect(await requeueDeadLetter(dl, 'perm-1')).toBe(true);
    expect(await requeueDeadLetter(dl, 'perm-1')).toBe(false);
    await waitFor(async () => (await client.result('perm-1'))?.ok === true, 'requeued task to complete');
    expect(await client.result('perm-1')).toEqual({ ok: true, value: 'ok now' });
    expect(attempts.get('perm-1')).toHaveLength(2);

    expect(await deleteDeadLetter(dl, 'unknown-1')).toBe(true);
    expect(await inspectDeadLetter(dl, 'unknown-1')).toBeNull();
    expect(await client.result('unknown-1')).toBeNull();
    expect(await countDeadLetters(dl)).toBe(before - 2);
  });
});
