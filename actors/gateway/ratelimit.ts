// Cluster-wide rate limits: a token bucket per token and one per account, checked and charged in one
// Lua call (storage/lua/ratelimit-2.lua) against Redis's clock, so every node shares the same buckets.
//
// Fails closed: when Redis cannot be asked (down, timed out, script error) the request is refused with
// E_REDIS_UNAVAILABLE, not E_RATE_LIMITED — the producer learns the true cause (an outage, retry
// later) instead of believing it exceeded a quota it cannot see; either way nothing is let through.
import type { Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import { isConnectionError } from '../../storage/redis.js';
import { GwKeys } from './keys.js';
import { runScript } from '../../storage/scripts.js';

export interface Limit {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the most requests allowed at once. */
  burst: number;
}

export interface RateLimits {
  token: Limit;
  account: Limit;
}

export const DEFAULT_LIMITS: RateLimits = { token: { rate: 2000, burst: 4000 }, account: { rate: 10_000, burst: 20_000 } };

/** E_RATE_LIMITED with the wait the bucket needs before the request would pass. */
export class RateLimitedError extends HwayError {
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number, scope = 'token or account') {
    super('E_RATE_LIMITED', `rate limit of the ${scope} exceeded; retry after ${retryAfterMs} ms`);
    this.retryAfterMs = retryAfterMs;
  }
  override toJSON(): { code: 'E_RATE_LIMITED'; message: string; retryAfterMs: number } {
    return { code: 'E_RATE_LIMITED', message: this.message, retryAfterMs: this.retryAfterMs };
  }
}

function checkLimit(l: Limit, what: string): void {
  if (!(l.rate > 0) || !(l.burst >= 1) || !Number.isFinite(l.rate) || !Number.isFinite(l.burst)) {
    throw new HwayError('E_BAD_INPUT', `${what} limit needs rate > 0 and burst >= 1`, { permanent: true });
  }
}

export class RateLimiter {
  private readonly keys: GwKeys;
  constructor(
    private readonly redis: Redis,
    private readonly limits: RateLimits = DEFAULT_LIMITS,
    prefix = 'hway',
  ) {
    checkLimit(limits.token, 'token');
    checkLimit(limits.account, 'account');
    this.keys = new GwKeys(prefix);
  }

  /**
   * Charge `cost` to the token and the account; throws RateLimitedError or E_REDIS_UNAVAILABLE.
   * With `publish`, the message is published in the same script when (and only when) the request is
   * allowed (SPUBLISH to a wallet's shard channel; one Redis only, see ratelimit-2.lua); resolves to
   * the number of listeners that got it (0 without `publish`).
   */
  async take(account: string, jti: string, cost = 1, publish?: { channel: string; message: string }): Promise<number> {
    let res: unknown;
    try {
      res = await runScript(
        this.redis,
        'ratelimit',
        [this.keys.bucketToken(account, jti), this.keys.bucketAccount(account)],
        [this.limits.token.rate, this.limits.token.burst, this.limits.account.rate, this.limits.account.burst, cost, ...(publish ? [publish.channel, publish.message] : [])],
      );
    } catch (e) {
      throw new HwayError('E_REDIS_UNAVAILABLE', `rate limit could not be checked, request refused (${isConnectionError(e) ? 'Redis unreachable' : 'Redis error'})`, { cause: e });
    }
    const [allowed, wait, receivers] = Array.isArray(res) ? (res as [number, number, number]) : [0, 1000, 0];
    if (allowed !== 1) throw new RateLimitedError(Math.max(1, Number(wait) || 1));
    return Number(receivers) || 0;
  }
}

/** The rate-limit charge of one request, taken exactly once (charged to its token and account). */
export class Charge {
  done = false;
  constructor(
    private readonly limiter: RateLimiter,
    private readonly claims: { account: string; jti: string },
  ) {}
  take(publish?: { channel: string; message: string }): Promise<number> {
    this.done = true;
    return this.limiter.take(this.claims.account, this.claims.jti, 1, publish);
  }
}
