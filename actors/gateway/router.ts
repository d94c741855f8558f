// Router actors: the node's in-memory cache of routes (route key → live connections), sharded over R
// nact actors by FNV-1a(route key) mod R. Each actor owns its shard's cache, so a load from Redis and
// an invalidation of the same key can never interleave: the actor handles one message at a time.
// A hit is answered from memory; a miss reads Redis (the gateway's loadRoute) and caches the answer
// until a route event invalidates it (connections coming and going are broadcast on <p>:gw:events) or it
// ages out (`ttlMs`, a backstop for a lost broadcast). Negative answers age out faster.
//
// Actors only decide; they never wait on a wallet, so a slow wallet cannot stall a shard. The mailbox
// is bounded by counting messages in flight per shard (nact's is not).
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { logCrash, send, spawnActor, startSystem, stopActor, type ActorRef, type SystemRef } from '../system.js';
import { fnv1a } from '../ingress/partition.js';

export interface RouteConn {
  conn: string;
  /** The spelling the wallet announced (what it looks its key up by), or the miner id. */
  announced: string;
  /** 65-byte uncompressed public key of a wallet address (absent for proof workers). */
  publicKey?: Uint8Array;
}

export interface Route {
  conns: RouteConn[];
  /** Vault id serving this address when no wallet does (null: none). */
  vault: string | null;
}

export type RouteLoader = (key: string) => Promise<Route>;

type Msg =
  | { t: 'lookup'; key: string; done: (r: Route | Error) => void }
  | { t: 'invalidate'; keys: string[] | 'all' };

interface Entry {
  route: Route;
  expires: number;
}

export interface RouterOptions {
  shards?: number;
  ttlMs?: number;
  negativeTtlMs?: number;
  /** Messages waiting per shard before lookups are refused with E_BUSY. Default 10000. */
  maxQueue?: number;
  logger: Logger;
  load: RouteLoader;
}

export class Router {
  private readonly system: SystemRef;
  private readonly shards: Array<ActorRef<Msg>>;
  private readonly queued: number[];
  private readonly maxQueue: number;

  constructor(opts: RouterOptions) {
    const R = opts.shards ?? 4;
    const ttl = opts.ttlMs ?? 30_000;
    const negTtl = opts.negativeTtlMs ?? 1000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.system = startSystem(`hway-gw-router-${Math.random().toString(36).slice(2)}`);
    this.queued = new Array<number>(R).fill(0);
    this.shards = Array.from({ length: R }, (_, i) =>
      spawnActor<Map<string, Entry>, Msg>(
        this.system,
        `router-${i}`,
        async (cache, msg) => {
          this.queued[i]!--;
          if (msg.t === 'invalidate') {
            if (msg.keys === 'all') cache.clear();
            else for (const k of msg.keys) cache.delete(k);
            return cache;
          }
          const now = Date.now();
          const hit = cache.get(msg.key);
          if (hit && hit.expires > now) {
            msg.done(hit.route);
            return cache;
          }
          try {
            const route = await opts.load(msg.key);
            cache.set(msg.key, { route, expires: Date.now() + (route.conns.length || route.vault ? ttl : negTtl) });
            if (cache.size > 100_000) cache.delete(cache.keys().next().value as string);
            msg.done(route);
          } catch (e) {
            msg.done(e instanceof Error ? e : new Error(String(e)));
          }
          return cache;
        },
        {
          initialState: () => new Map(),
          onCrash: (_msg, err, pending) => {
            logCrash(opts.logger, `router-${i}`, err);
            // Nothing in a shard is precious (it is a cache): start over, keep serving the queue.
            void pending;
            return 'reset';
          },
        },
      ),
    );
  }

  private shardOf(key: string): number {
    return fnv1a(key) % this.shards.length;
  }

  lookup(key: string): Promise<Route> {
    const i = this.shardOf(key);
    if (this.queued[i]! >= this.maxQueue) return Promise.reject(new HwayError('E_BUSY', 'router is overloaded'));
    this.queued[i]!++;
    return new Promise((resolve, reject) => {
      send(this.shards[i]!, { t: 'lookup', key, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  invalidate(keys: string[] | 'all'): void {
    if (keys === 'all') {
      this.shards.forEach((s, i) => {
        this.queued[i]!++;
        send(s, { t: 'invalidate', keys: 'all' });
      });
      return;
    }
    const byShard = new Map<number, string[]>();
    for (const k of keys) {
      const i = this.shardOf(k);
      const l = byShard.get(i);
      if (l) l.push(k);
      else byShard.set(i, [k]);
    }
    for (const [i, ks] of byShard) {
      this.queued[i]!++;
      send(this.shards[i]!, { t: 'invalidate', keys: ks });
    }
  }

  stop(): void {
    stopActor(this.system);
  }
}
