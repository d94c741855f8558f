// How a node reaches one wallet (or proof-worker) connection: sharded pub/sub on the connection's own
// channel (SPUBLISH / SSUBSCRIBE, Redis ≥ 7, which Highway requires already for partition wake-ups).
//
// Why sharded: the gateway evicts a connection whose channel has no listener (a killed wallet is seen
// at once, not after three missed heartbeats), so the count must be right. With plain pub/sub on a
// Redis Cluster it is not: PUBLISH and PUBSUB NUMSUB count only the clients of the node that answers,
// and a cluster client subscribes on whichever node it likes, so a live wallet could count 0 and be
// evicted. A shard channel lives on the master of its slot; its subscribers are there, SPUBLISH is
// answered there, and the count it returns is the whole count. On one Redis both forms behave alike.
import type { Cluster, Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import { isCluster, whenReady } from '../../storage/redis.js';

/** Sends one frame; resolves to the number of listeners that got it (0: nobody is connected). */
export function sendToConn(redis: Redis, channel: string, message: string): Promise<number> {
  return redis.spublish(channel, message) as Promise<number>;
}

/** Subscribes `sub` (made with `{ sharded: true }`) to connection channels once it is ready. */
export async function listenOnConn(sub: Redis, channels: string[], ms: number): Promise<void> {
  await whenReady(sub, ms);
  await sub.ssubscribe(...channels);
}

export function unlistenConn(sub: Redis, channel: string): Promise<unknown> {
  return sub.sunsubscribe(channel);
}

/**
 * Listeners of each connection channel. Each master counts the shard channels of its own slots, so
 * the masters' answers are summed. Rejects when a master does not answer within `ms` (a count would
 * then be too low, and nobody may be evicted on it).
 */
export async function listenerCounts(redis: Redis, channels: string[], ms: number): Promise<number[]> {
  const nodes: Redis[] = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HwayError('E_TIMEOUT', `PUBSUB SHARDNUMSUB did not answer within ${ms} ms`)), ms);
  });
  try {
    const replies = await Promise.race([Promise.all(nodes.map((n) => n.call('PUBSUB', 'SHARDNUMSUB', ...channels) as Promise<Array<string | number>>)), late]);
    const counts = new Array<number>(channels.length).fill(0);
    for (const r of replies) for (let i = 0; i < channels.length; i++) counts[i]! += Number(r[2 * i + 1] ?? 0);
    return counts;
  } finally {
    clearTimeout(timer);
  }
}
