// One gateway request from the CLI (hway wallet has|sign|list, hway proof …): check that Redis answers
// first (so a wrong --redis is E_REDIS_UNAVAILABLE at once, not a 30 s timeout), then a producer client
// for this one call, closed whatever happens.
import { GatewayClient } from '../actors/gateway/producer.js';
import { checkRedis, type RedisTarget } from './cli.js';

export interface GatewayCallOptions {
  redis: RedisTarget;
  prefix: string;
  timeoutMs?: number;
  token?: string;
}

export async function gatewayCall<T>(o: GatewayCallOptions, f: (c: GatewayClient) => Promise<T>): Promise<T> {
  await checkRedis(o.redis);
  const c = new GatewayClient({ redis: o.redis, prefix: o.prefix, timeoutMs: o.timeoutMs ?? 30_000, ...(o.token ? { token: o.token } : {}) });
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}
