// Rate-limit charges of the vault tasks, coalesced: the charges of one event-loop turn that fall on
// the same token go to Redis as one ratelimit script call of cost n instead of n calls. Under load a
// node runs many tasks of a producer per turn, and one round trip per sign was most of what auth on
// cost the pipeline (bench/pipeline.ts --auth-only). The buckets are charged exactly as before:
// when the bucket holds n tokens all n pass at once; when it does not, each charge of the group is
// retried alone, so as many pass as the bucket allows and the rest get their own retry-after.
import type { RateLimiter } from './ratelimit.js';

interface Group {
  account: string;
  jti: string;
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

export class ChargeBatcher {
  private groups = new Map<string, Group>();
  private queued = false;

  constructor(private readonly limiter: RateLimiter) {}

  /** Charges one request to the token and its account; rejects like RateLimiter.take. */
  charge(account: string, jti: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const k = `${account}\u0000${jti}`;
      let g = this.groups.get(k);
      if (g === undefined) this.groups.set(k, (g = { account, jti, waiters: [] }));
      g.waiters.push({ resolve, reject });
      if (!this.queued) {
        this.queued = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.queued = false;
    const groups = [...this.groups.values()];
    this.groups = new Map();
    for (const g of groups) void this.settle(g);
  }

  private async settle(g: Group): Promise<void> {
    try {
      await this.limiter.take(g.account, g.jti, g.waiters.length);
      for (const w of g.waiters) w.resolve();
      return;
    } catch (e) {
      if (g.waiters.length === 1) {
        g.waiters[0]!.reject(e);
        return;
      }
    }
    // Not enough in the bucket for all of them (or Redis failed): each on its own.
    await Promise.all(g.waiters.map((w) => this.limiter.take(g.account, g.jti, 1).then(() => w.resolve(), w.reject)));
  }
}
