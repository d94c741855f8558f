// Partition leases and node membership in Redis, typed: the only place that builds the lease
// scripts' KEYS/ARGV. A lease value is "<nodeId>|<epoch>"; every acquisition bumps the partition's
// fencing epoch (lease_acquire-2.lua). Calls over many partitions go out together (runBatch), one
// script per partition, since each partition's keys live in its own cluster slot.
import type { Redis } from 'ioredis';
import type { Keys } from '../actors/ingress/keys.js';
import { runBatch, runScript } from './scripts.js';

export class LeaseStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly nodeId: string,
    private readonly leaseMs: number,
  ) {}

  /** Refresh this node's membership and forget expired nodes; resolves to the live node ids. */
  async heartbeat(): Promise<string[]> {
    return (await runScript(this.redis, 'heartbeat', [this.keys.nodes()], [this.nodeId, this.leaseMs, '0'])) as string[];
  }

  /** Extend leases: per lease, true (renewed), false (no longer ours) or an Error (not known). */
  async renew(leases: Array<{ p: number; value: string }>): Promise<Array<boolean | Error>> {
    const res = await runBatch(
      this.redis,
      leases.map((l) => ({ name: 'lease_renew', keys: [this.keys.lease(l.p)], args: [l.value, this.leaseMs] })),
    );
    return res.map(([err, ok]) => err ?? ok === 1);
  }

  /** The partitions among `candidates` whose lease is free right now. */
  async free(candidates: number[]): Promise<number[]> {
    const exists = await Promise.all(candidates.map((p) => this.redis.exists(this.keys.lease(p)).catch(() => 1)));
    return candidates.filter((_, i) => exists[i] === 0);
  }

  /** Try to take leases; per partition, the new fencing epoch, or 0 when it was taken meanwhile. */
  async acquire(partitions: number[]): Promise<number[]> {
    const res = await runBatch(
      this.redis,
      partitions.map((p) => ({ name: 'lease_acquire', keys: [this.keys.lease(p), this.keys.epoch(p)], args: [this.nodeId, this.leaseMs] })),
    );
    return res.map(([err, epoch]) => (err || typeof epoch !== 'number' ? 0 : epoch));
  }

  /** Give a lease up if it still holds `value`. */
  async release(p: number, value: string): Promise<void> {
    await runScript(this.redis, 'lease_release', [this.keys.lease(p)], [value]);
  }

  /** Give every listed lease up and leave the membership. */
  async releaseAll(leases: Array<{ p: number; value: string }>): Promise<void> {
    await runBatch(this.redis, [
      ...leases.map((l) => ({ name: 'lease_release' as const, keys: [this.keys.lease(l.p)], args: [l.value] })),
      { name: 'heartbeat', keys: [this.keys.nodes()], args: [this.nodeId, this.leaseMs, '1'] },
    ]);
  }
}
