// Router actors: the node's in-memory cache of routes (route key → live connections), sharded over R
// actors by FNV-1a(route key) mod R. They live in the node's actor system, under a RouterSupervisor:
//
//   system ── gw-routers (RouterSupervisor) ── router-0 … router-(R−1) (RouterActor)
//
// A route maps an address (or a miner id) to the connections serving it, each with the node that holds
// it (RouteConn.node): this node's own wallet actors (wallet-supervisor.ts) or another node's. Every
// node reaches every connection directly over its channel, so a request to a connection held elsewhere
// is not relayed through its holder (that would cost a Redis round trip and add a point of failure);
// this node's own WalletActor for it tracks what this node has in flight there.
//
// Each shard owns its cache, so a load from Redis and an invalidation of the same key never interleave:
// the actor handles one message at a time. A hit is answered from memory; a miss reads Redis (loadRoute)
// and caches the answer until a route event invalidates it (connections coming and going are broadcast
// on <p>:gw:events) or it ages out (`ttlMs`, a backstop for a lost broadcast). Negative answers age out
// faster. Shards only decide; they never wait on a wallet, so a slow wallet cannot stall one. Their
// mailboxes are bounded by counting messages in flight per shard (nact's are not). A lookup goes
// straight to its shard (no hop through the supervisor): the supervisor is the shards' parent in the
// tree, stopped with them, and their crash policy is reset (a cache holds nothing precious).
import { HwayError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { logCrash, send, spawnActor, startSystem, stopActor, type ActorRef, type SystemRef } from '../system.js';
import { fnv1a } from '../ingress/partition.js';
import type { RouteKey } from './route-key.js';

export interface RouteConn {
  conn: string;
  /** The spelling the wallet announced (what it looks its key up by), or the miner id. */
  announced: string;
  /** 65-byte uncompressed public key of a wallet address (absent for proof workers). */
  publicKey?: Uint8Array;
  /** The node holding the connection (whose handshake registered it), as its liveness record says. */
  node?: string;
}

export interface Route {
  conns: RouteConn[];
  /** Vault id serving this address when no wallet does (null: none). */
  vault: string | null;
}

export type RouteLoader = (route: RouteKey) => Promise<Route>;

type ShardMsg =
  | { t: 'lookup'; key: string; route: RouteKey; done: (r: Route | Error) => void }
  | { t: 'invalidate'; keys: string[] | 'all' };

/** The supervisor takes no messages of its own. */
type SupMsg = never;

interface Entry {
  route: Route;
  expires: number;
}

export interface RouterOptions {
  /** The actor system to live in (the node's); without one the router starts its own. */
  system?: SystemRef;
  shards?: number;
  ttlMs?: number;
  negativeTtlMs?: number;
  /** Messages waiting per shard before lookups are refused with E_BUSY. Default 10000. */
  maxQueue?: number;
  logger: Logger;
  load: RouteLoader;
  /** The route key's cache (and invalidation) spelling: route-key.ts encodeRouteKey. */
  encode: (route: RouteKey) => string;
}

export class Router {
  private readonly ownSystem: SystemRef | undefined;
  private readonly supervisor: ActorRef<SupMsg>;
  private readonly shards: Array<ActorRef<ShardMsg>>;
  private readonly queued: number[];
  private readonly maxQueue: number;
  private readonly encode: (route: RouteKey) => string;

  constructor(opts: RouterOptions) {
    const R = opts.shards ?? 4;
    const ttl = opts.ttlMs ?? 30_000;
    const negTtl = opts.negativeTtlMs ?? 1000;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.encode = opts.encode;
    this.ownSystem = opts.system ? undefined : startSystem(`hway-gw-router-${Math.random().toString(36).slice(2)}`);
    this.supervisor = spawnActor<null, SupMsg>(
      opts.system ?? this.ownSystem!,
      'gw-routers',
      (state) => state,
      {
        initialState: () => null,
        onCrash: (_msg, err) => {
          logCrash(opts.logger, 'router-supervisor', err);
          return 'resume';
        },
      },
    );
    this.queued = new Array<number>(R).fill(0);
    this.shards = Array.from({ length: R }, (_, i) =>
      spawnActor<Map<string, Entry>, ShardMsg>(
        this.supervisor,
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
            const route = await opts.load(msg.route);
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
          onCrash: (msg, err) => {
            logCrash(opts.logger, `router-${i}`, err);
            // Nothing in a shard is precious (it is a cache): start over, keep serving the queue. The
            // message that crashed it is answered, so that nobody waits for it.
            if (msg?.t === 'lookup') msg.done(err instanceof Error ? err : new Error(String(err)));
            return 'reset';
          },
        },
      ),
    );
  }

  private shardOf(key: string): number {
    return fnv1a(key) % this.shards.length;
  }

  lookup(route: RouteKey): Promise<Route> {
    const key = this.encode(route);
    const i = this.shardOf(key);
    if (this.queued[i]! >= this.maxQueue) return Promise.reject(new HwayError('E_BUSY', 'router is overloaded'));
    this.queued[i]!++;
    return new Promise((resolve, reject) => {
      send(this.shards[i]!, { t: 'lookup', key, route, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  }

  /** Drops cached routes by their encoded keys (as route events carry them), or all of them. */
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
    stopActor(this.supervisor); // and its shards
    if (this.ownSystem) stopActor(this.ownSystem);
  }
}
