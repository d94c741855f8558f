// Node membership as the ingress keeps it (actors/ingress/leases.ts, heartbeat-1.lua): a zset of node
// ids scored by heartbeat expiry on Redis's clock. A node is live while its score is in the future;
// expired entries linger until some node's next heartbeat removes them, so they are filtered here.
import type { Redis } from 'ioredis';
import { Keys } from '../ingress/keys.js';

export interface Member {
  id: string;
  /** Until its heartbeat expires, on Redis's clock. */
  expiresInMs: number;
}

/** Live node ids under `prefix`, and Redis's clock (ms) at the read. */
export async function readMembers(r: Redis, prefix: string): Promise<{ now: number; live: Member[] }> {
  const [[sec, usec], rows] = await Promise.all([r.time() as Promise<[string | number, string | number]>, r.zrange(new Keys(prefix).nodes(), 0, -1, 'WITHSCORES')]);
  const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  const live: Member[] = [];
  for (let i = 0; i < rows.length; i += 2) {
    const exp = Number(rows[i + 1]);
    if (exp > now) live.push({ id: rows[i]!, expiresInMs: exp - now });
  }
  return { now, live };
}
