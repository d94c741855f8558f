// A node's Redis connection sends everything written during one event-loop turn in one socket write
// (storage/write-coalescing.ts): many commands of one turn leave together, replies still match their
// commands in order, the next turn's commands leave in a write of their own, and the socket ioredis
// opens after a reconnect is coalesced too. Counted on the real socket against the real Redis.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { connect } from '../storage/redis.js';
import { ON_CLUSTER, REDIS_URL, deleteKeys } from './helpers/redis.js';

const prefix = `hwc-${randomBytes(3).toString('hex')}`;

/** Counts the socket's writes to the kernel (one per _write or _writev call). */
function countWrites(s: Socket): () => number {
  let n = 0;
  const raw = s as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
  for (const m of ['_write', '_writev'] as const) {
    const f = raw[m];
    raw[m] = function (this: Socket, ...a: unknown[]) {
      n++;
      return f.apply(this, a);
    };
  }
  return () => n;
}

const ready = (r: Redis): Promise<void> => (r.status === 'ready' ? Promise.resolve() : new Promise((res) => r.once('ready', () => res())));

(ON_CLUSTER ? describe.skip : describe)('write coalescing (one Redis)', () => {
  let r: Redis;
  beforeAll(async () => {
    r = connect(REDIS_URL, { maxRetriesPerRequest: null });
    await ready(r);
  });
  afterAll(async () => {
    await deleteKeys(r, prefix);
    r.disconnect();
  });

  test("one turn's commands leave in one write and are answered in order", async () => {
    const writes = countWrites(r.stream as Socket);
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? r.set(`${prefix}:k${i}`, `v${i}`) : r.get(`${prefix}:k${i - 1}`))),
    );
    expect(writes()).toBe(1);
    replies.forEach((v, i) => expect(v).toBe(i % 2 === 0 ? 'OK' : `v${i - 1}`));

    // a later turn: a write of its own
    expect(await r.get(`${prefix}:k0`)).toBe('v0');
    expect(await r.get(`${prefix}:k2`)).toBe('v2');
    expect(writes()).toBe(3);
  });

  test('the socket of a reconnect is coalesced too', async () => {
    const before = r.stream;
    const admin = connect(REDIS_URL, {});
    const id = await r.client('ID');
    await admin.client('KILL', 'ID', String(id));
    admin.disconnect();
    await new Promise<void>((res) => {
      const check = (): void => void (r.status === 'ready' && r.stream !== before ? res() : setTimeout(check, 20));
      check();
    });
    const writes = countWrites(r.stream as Socket);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => r.incr(`${prefix}:n`).then((n) => [i, n])));
    expect(writes()).toBe(1);
    expect(got.map(([, n]) => n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});
