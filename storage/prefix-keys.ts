// Every key under a key prefix ("<prefix>:*"), removed: the demo cleans up after itself with it, and
// tests and benchmarks remove what they wrote under their own prefixes. SCAN, not KEYS, so a large
// database is never blocked; UNLINK frees memory off Redis's main thread.
import type { Redis } from 'ioredis';

export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
