// Every key under a key prefix ("<prefix>:*"), removed: the demo cleans up after itself with it, and
// tests and benchmarks remove what they wrote under their own prefixes. SCAN, not KEYS, so a large
// database is never blocked; UNLINK frees memory off Redis's main thread. On a Redis Cluster each
// master scans only its own keys, so the scan fans out over the masters; and a multi-key UNLINK there
// must not span slots (CROSSSLOT), so each key is unlinked by its own command (pipelined per master).
import type { Redis } from 'ioredis';
import { isCluster, masters } from './redis.js';

export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  if (!isCluster(redis)) {
    await deleteOn(redis, prefix, (keys) => redis.unlink(...keys).then(() => undefined));
    return;
  }
  // The masters are known once the client has loaded the slot map: a first command waits for that.
  if (redis.status !== 'ready') await redis.ping();
  await Promise.all(
    masters(redis).map((node) =>
      deleteOn(node, prefix, async (keys) => {
        const pipe = node.pipeline();
        for (const k of keys) pipe.unlink(k);
        const res = (await pipe.exec()) ?? [];
        // A key whose slot moved meanwhile (resharding, failover): through the cluster client, which follows MOVED.
        await Promise.all(res.map(([err], i) => (err ? redis.unlink(keys[i]!) : undefined)));
      }),
    ),
  );
}

async function deleteOn(node: Redis, prefix: string, unlink: (keys: string[]) => Promise<void>): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await unlink(keys);
    cursor = next;
  } while (cursor !== '0');
}
