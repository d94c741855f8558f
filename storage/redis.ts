// Connections. Producers must fail fast when Redis is away (no offline queue, bounded waits); the
// node's own connections instead queue and reconnect with backoff, because an in-flight task's
// completion must reach Redis eventually rather than be dropped.
import { Redis, type RedisOptions } from 'ioredis';
import { HwayError } from '../errors.js';
import { defineScripts } from './scripts.js';

/** A connection to copy settings from, an ioredis options object, or a redis:// URL. */
export type RedisSource = Redis | RedisOptions | string;

function baseOptions(src: RedisSource): { url?: string; opts: RedisOptions } {
  if (typeof src === 'string') return { url: src, opts: {} };
  if (src instanceof Redis) return { opts: { ...src.options } };
  return { opts: { ...src } };
}

export function connect(src: RedisSource, overrides: RedisOptions): Redis {
  const { url, opts } = baseOptions(src);
  const merged: RedisOptions = { ...opts, ...overrides };
  const conn = url ? new Redis(url, merged) : new Redis(merged);
  // Scripts are defined before the first command: an auto-pipeline created before defineCommand lacks
  // the script's method and ioredis then throws an uncaught "results[i] is not iterable" (ioredis #1931).
  defineScripts(conn);
  return conn;
}

export const backoff = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000);

/** The node's connections: reconnect forever, queue while away. */
export function nodeConnection(src: RedisSource, name: string): Redis {
  return connect(src, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
    retryStrategy: backoff,
    lazyConnect: false,
  });
}

/** Errors that mean "Redis is not reachable right now", as opposed to a script or data error. */
export function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === 'ReplyError') return false;
  return /Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Command timed out|MaxRetriesPerRequest|connect|closed|ENOTFOUND|EHOSTUNREACH/i.test(
    `${e.name} ${e.message}`,
  );
}

export function unavailable(cause: unknown): HwayError {
  return new HwayError('E_REDIS_UNAVAILABLE', 'Redis is unavailable', { cause });
}

/** Resolve once the connection is ready, or fail with E_REDIS_UNAVAILABLE after `ms`. */
export function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  if (redis.status === 'end' || redis.status === 'close' && !redis.options.retryStrategy) {
    return Promise.reject(new HwayError('E_REDIS_UNAVAILABLE', 'Redis connection is closed'));
  }
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new HwayError('E_REDIS_UNAVAILABLE', `Redis did not answer within ${ms} ms`));
    }, ms);
    const onReady = () => {
      clearTimeout(t);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/**
 * Subscribes once the connection is ready. A SUBSCRIBE sent while ioredis still runs its ready check
 * puts the connection in subscriber mode under that check, which then fails, and the subscription
 * (with every message of its channels) is lost; every subscriber of Highway goes through here.
 */
export async function subscribeWhenReady(sub: Redis, channels: string[], ms: number): Promise<void> {
  await whenReady(sub, ms);
  await sub.subscribe(...channels);
}

/** Close a connection and resolve once it has fully ended (QUIT when possible, else disconnect). */
export async function closeConnection(r: Redis, ms = 1000): Promise<void> {
  if (r.status === 'end') return;
  const ended = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    r.once('end', () => {
      clearTimeout(t);
      resolve();
    });
  });
  if (r.status === 'ready') {
    r.quit().catch(() => r.disconnect());
  } else {
    r.disconnect();
  }
  await ended;
}
