// A Redis server of our own (AOF, fsync always) is killed and restarted in the middle of a run.
// Producers see E_REDIS_UNAVAILABLE and retry with the same task ids; the node reconnects and goes on.
// Nothing acknowledged is lost: every task completes with a stored result.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HwayError } from '../errors.js';
import { createIngress, IngressClient, Keys, partitionOf, type Ingress } from '../actors/ingress/index.js';
import { AofRedis } from './helpers/aof-redis.js';
import { freePort, ON_CLUSTER, quietLogger, sleep, testPrefix, waitFor } from './fixtures/ingress-helpers.js';

const P = 8;
const N = 1500;
const prefix = testPrefix('restart');
const keys = new Keys(prefix);
let dir: string;
let port: number;
let server: AofRedis | undefined;

const startServer = (): Promise<void> => (server ??= new AofRedis(port, dir)).start();
const killServer = (): Promise<void> => server?.kill() ?? Promise.resolve();

// Single-instance only: it kills and restarts a Redis server of its own (the cluster pass has nothing
// to add; failover of a cluster master is covered by spec/redis-cluster.test.ts).
(ON_CLUSTER ? describe.skip : describe)('Redis restart mid-run', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hway-redis-'));
    port = await freePort();
    await startServer();
  });

  afterAll(async () => {
    await killServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses no task across a SIGKILL and restart of Redis (AOF, fsync always)', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const effects = new Redis(url, { maxRetriesPerRequest: null });
    const done = new Set<string>();
    const ingress: Ingress = createIngress({
      redis: url,
      prefix,
      partitions: P,
      concurrency: 10,
      leaseMs: 2000,
      logger: quietLogger(),
      handlers: {
        job: async (t) => {
          await effects.sadd(`${prefix}:test:done`, t.id);
          await sleep(2);
          done.add(t.id);
          return { ok: t.id };
        },
      },
    });
    await ingress.start();
    const client = new IngressClient({ redis: url, prefix, partitions: P, logger: quietLogger(), unavailableAfterMs: 300 });
    let unavailable = 0;
    const ids = Array.from({ length: N }, (_, i) => `job-${i}`);
    const producer = (async () => {
      for (let i = 0; i < N; i += 50) {
        const batch = ids.slice(i, i + 50).map((id) => ({ type: 'job', payload: {}, opts: { id } }));
        for (;;) {
          try {
            await client.enqueueMany(batch);
            break;
          } catch (e) {
            expect(e).toBeInstanceOf(HwayError);
            expect((e as HwayError).code).toBe('E_REDIS_UNAVAILABLE');
            unavailable++;
            await sleep(50);
          }
        }
        await sleep(5);
      }
    })();
    try {
      await waitFor(() => done.size >= 300, '300 tasks before the restart');
      const doneAtKill = done.size;
      await killServer();
      const downAt = Date.now();
      await sleep(300);
      await startServer();
      console.log(`redis down for ${Date.now() - downAt} ms with ${doneAtKill}/${N} tasks done; producer saw E_REDIS_UNAVAILABLE ${unavailable} times`);
      expect(doneAtKill).toBeLessThan(N - 100);
      await producer;
      const check = new Redis(url);
      try {
        await waitFor(async () => (await check.scard(`${prefix}:test:done`)) === N, 'every task to run');
        await waitFor(async () => {
          const pipe = check.pipeline();
          for (const id of ids) pipe.get(keys.result(partitionOf(id, P), id));
          const res = (await pipe.exec()) ?? [];
          return res.every(([, v]) => typeof v === 'string' && v.startsWith('{"ok":1'));
        }, 'every result to be stored');
        const st = ingress.stats();
        console.log(`after restart: completed ${st.completed}, answered from store ${st.answeredFromStore}, retried ${st.retried}`);
        expect(st.archived).toBe(0);
      } finally {
        await check.flushall();
        check.disconnect();
      }
    } finally {
      await ingress.stop();
      await client.close();
      effects.disconnect();
    }
  });
});
