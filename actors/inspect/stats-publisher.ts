// Publishes this node's stats record (stats-record.ts) every second, and a last one marked `left` when
// the node stops gracefully, so that the cluster page can tell a node that left from one that died.
// Each write is bounded and skipped while the previous one is still out: the node's connection queues
// commands while Redis is away, and a display figure is not worth a backlog. Records older than
// STATS_RETAIN_MS (nodes gone a while) are removed now and then, by whichever node gets there.
import type { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { within } from '../within.js';
import { encodeRecord, parseRecord, statsKey, STATS_RETAIN_MS, STATS_VERSION, type EnclaveHealth, type NodeStatsRecord, type TaskCount } from './stats-record.js';

export const STATS_EVERY_MS = 1000;
const WRITE_MS = 2000;
/** Prune once per this many publishes (about a minute). */
const PRUNE_EVERY = 60;

export interface StatsSource {
  tasks(): Record<string, TaskCount>;
  /** The enclave pool's counters; undefined when it is not loaded. */
  enclave(): { instances: number; calls: number; timeouts: number; restarts: number } | undefined;
}

export interface StatsPublisher {
  /** Writes a last record marked `left` (bounded) and stops publishing. */
  stop(): Promise<void>;
}

export function startStatsPublisher(o: { redis: Redis; prefix: string; nodeId: string; source: StatsSource; log: Logger; everyMs?: number }): StatsPublisher {
  const key = statsKey(o.prefix);
  const since = Date.now();
  let inFlight: Promise<void> | undefined;
  let n = 0;

  const record = (left: boolean): NodeStatsRecord => {
    const e = o.source.enclave();
    const enclave: EnclaveHealth = e === undefined ? { loaded: false, instances: 0, calls: 0, timeouts: 0, restarts: 0 } : { loaded: true, instances: e.instances, calls: e.calls, timeouts: e.timeouts, restarts: e.restarts };
    return { v: STATS_VERSION, at: Date.now(), since, left, tasks: o.source.tasks(), enclave };
  };

  const prune = async (): Promise<void> => {
    const all = await o.redis.hgetall(key);
    const now = Date.now();
    const old = Object.entries(all)
      .filter(([id, raw]) => id !== o.nodeId && (parseRecord(raw)?.at ?? 0) < now - STATS_RETAIN_MS)
      .map(([id]) => id);
    if (old.length) await o.redis.hdel(key, ...old);
  };

  const publish = (left: boolean): Promise<void> => {
    const write = (async () => {
      await o.redis.hset(key, o.nodeId, encodeRecord(record(left)));
      if (n++ % PRUNE_EVERY === 0) await prune();
    })();
    return within(write, WRITE_MS).catch((e: unknown) => {
      o.log.debug('stats record not written', { error: e instanceof Error ? e.message : String(e) });
    });
  };

  const timer = setInterval(() => {
    if (inFlight !== undefined) return;
    inFlight = publish(false).finally(() => (inFlight = undefined));
  }, o.everyMs ?? STATS_EVERY_MS);
  timer.unref();
  inFlight = publish(false).finally(() => (inFlight = undefined));

  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      await publish(true);
    },
  };
}
