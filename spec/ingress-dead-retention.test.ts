// Dead-letter retention: a partition keeps at most `max` dead letters and none older than `maxAgeMs`;
// the oldest go first, with their task records and results (nothing of theirs is left in Redis).
import { afterAll, describe, expect, it } from '@jest/globals';
import { HwayError } from '../errors.js';
import { createIngress, IngressClient, inspectDeadLetter, Keys, listDeadLetters, type Ingress } from '../actors/ingress/index.js';
import { HANG_ONLY, cleanup, quietLogger, REDIS, testRedis, testPrefix, waitFor } from './fixtures/ingress-helpers.js';
import { HANG_MS } from './helpers/deadlines.js';

// One partition: retention is per partition, and every task lands in this one.
const P = 1;
const redis = testRedis();
const opened: Array<{ ingress: Ingress; client: IngressClient; prefix: string }> = [];

async function open(name: string, deadLetters: { max?: number; maxAgeMs?: number }): Promise<{ client: IngressClient; prefix: string; keys: Keys }> {
  const prefix = testPrefix(name);
  const ingress = createIngress({
    redis: REDIS,
    prefix,
    partitions: P,
    logger: quietLogger(),
    deadLetters,
    handlers: {
      refused: async () => {
        throw new HwayError('E_BAD_PAYLOAD', 'refused', { permanent: true });
      },
    },
  });
  await ingress.start();
  const client = new IngressClient({ redis: REDIS, ...HANG_ONLY, prefix, partitions: P, logger: quietLogger(), callTimeoutMs: HANG_MS });
  opened.push({ ingress, client, prefix });
  return { client, prefix, keys: new Keys(prefix) };
}

/** Archives task `id` (a permanent failure) and waits for its outcome. */
async function archive(client: IngressClient, id: string): Promise<void> {
  const e = await client.call('refused', { n: id }, { id }).catch((x: unknown) => x);
  expect((e as HwayError).code).toBe('E_BAD_PAYLOAD');
}

async function redisNowMs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

afterAll(async () => {
  for (const o of opened) {
    await o.ingress.stop();
    await o.client.close();
    await cleanup(redis, o.prefix);
  }
  redis.disconnect();
});

describe('dead-letter retention', () => {
  it('keeps the newest `max` letters of a partition and drops the older ones with their records and results', async () => {
    const { client, prefix, keys } = await open('dlq-count', { max: 3 });
    const ids = ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'];
    for (const id of ids) await archive(client, id);
    const dl = { redis, prefix, partitions: P };
    expect((await listDeadLetters(dl)).map((d) => d.id).sort()).toEqual(['c-3', 'c-4', 'c-5']);
    for (const id of ['c-1', 'c-2']) {
      expect(await inspectDeadLetter(dl, id)).toBeNull();
      expect(await redis.exists(keys.task(0, id), keys.result(0, id))).toBe(0);
    }
    for (const id of ['c-3', 'c-4', 'c-5']) expect((await inspectDeadLetter(dl, id))?.error?.code).toBe('E_BAD_PAYLOAD');
  });

  it('drops letters older than `maxAgeMs` at the next archive', async () => {
    const maxAgeMs = 300;
    const { client, prefix, keys } = await open('dlq-age', { maxAgeMs });
    const dl = { redis, prefix, partitions: P };
    await archive(client, 'a-old');
    const at = Number(await redis.zscore(keys.dead(0), 'a-old'));
    // Waits (by Redis's clock, which the script reads) until the letter is past its age: a minimum,
    // however slow the machine.
    await waitFor(async () => (await redisNowMs()) > at + maxAgeMs, 'the letter to age');
    await archive(client, 'a-new');
    expect((await listDeadLetters(dl)).map((d) => d.id)).toEqual(['a-new']);
    expect(await redis.exists(keys.task(0, 'a-old'), keys.result(0, 'a-old'))).toBe(0);
  });

  it('refuses a retention that would keep nothing', () => {
    expect(() => createIngress({ redis: REDIS, partitions: P, deadLetters: { max: 0 } })).toThrow(RangeError);
    expect(() => createIngress({ redis: REDIS, partitions: P, deadLetters: { maxAgeMs: 0 } })).toThrow(RangeError);
  });
});
