// One GatewayClient per caller credential, so that each JSON-RPC call is made as that producer: its
// requests carry the caller's JWT and a MAC under the caller's request key, and its answers must be
// sealed for that key; account isolation and rate limits apply as for any producer through Redis.
// Bounded (least recently used first out) because each client holds two Redis connections; a client
// pushed out while calls are in flight closes when the last of them ends. All close with the endpoint.
import { createHash } from 'node:crypto';
import type { Logger } from '../../../log.js';
import type { RedisSource } from '../../../storage/redis.js';
import { GatewayClient } from '../../gateway/producer.js';

export interface GatewayClientsOptions {
  redis: RedisSource;
  prefix: string;
  logger: Logger;
  /** Clients kept at once. Default 32. */
  max?: number;
  /** Deadline of one gateway request. Default the GatewayClient's (20 s). */
  timeoutMs?: number;
}

interface Entry {
  client: GatewayClient;
  busy: number;
  evicted: boolean;
}

export interface Lease {
  client: GatewayClient;
  release(): void;
}

export class GatewayClients {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;
  private closed = false;

  constructor(private readonly opts: GatewayClientsOptions) {
    this.max = Math.max(1, opts.max ?? 32);
  }

  /** The client of `credential` (the whole bearer), marked busy until `release`. */
  acquire(credential: string): Lease {
    // Keyed by a hash: the map holds no credential (the client itself keeps it, to MAC its requests).
    const key = createHash('sha256').update(credential).digest('hex');
    let e = this.entries.get(key);
    if (e === undefined) {
      e = {
        client: new GatewayClient({
          redis: this.opts.redis,
          prefix: this.opts.prefix,
          token: credential,
          logger: this.opts.logger,
          ...(this.opts.timeoutMs === undefined ? {} : { timeoutMs: this.opts.timeoutMs }),
        }),
        busy: 0,
        evicted: false,
      };
      if (this.closed) e.evicted = true;
      else this.entries.set(key, e);
      this.evict();
    } else {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    const entry = e;
    entry.busy++;
    let released = false;
    return {
      client: entry.client,
      release: () => {
        if (released) return;
        released = true;
        entry.busy--;
        if (entry.evicted && entry.busy === 0) void entry.client.close();
      },
    };
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    // In-flight calls are rejected with E_CLOSED by their client: the endpoint is going away.
    await Promise.all(all.map((e) => ((e.evicted = true), e.client.close())));
  }

  private evict(): void {
    for (const [key, e] of this.entries) {
      if (this.entries.size <= this.max) return;
      this.entries.delete(key);
      e.evicted = true;
      if (e.busy === 0) void e.client.close();
    }
  }
}
