// Exponential backoff with jitter. "Equal jitter": half the exponential step is fixed and half is random,
// so retries of many failed tasks spread out while each one still waits at least half its step.
export interface RetryPolicy {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** Upper bound of any single delay. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 500, maxMs: 60_000 };
export const DEFAULT_MAX_RETRIES = 3;

/** Delay before retry number `retry` (1 = first retry). */
export function backoffMs(retry: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}
