// Partition ownership (the ClusterActor role): membership by heartbeat, one lease per partition
// (SET NX PX with a fencing epoch INCR'd on every acquisition), renewal every leaseMs/3, and
// rebalancing so that each live node holds floor or ceil of P/nodes partitions.
import type { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { LeaseStore } from '../../storage/lease-store.js';
import type { Keys } from './keys.js';
import { fnv1a } from './partition.js';

export interface LeaseHooks {
  /** A partition is ours under this epoch: start consuming it. */
  acquired(p: number, epoch: number): void;
  /** Ownership ended without a drain (renewal refused, or not renewed in time): stop at once. */
  lost(p: number): void;
  /** Stop taking new work from p and resolve when its in-flight tasks are done. */
  drain(p: number): Promise<void>;
  /** Called after every tick (safety nets for lost wake-ups). */
  tick(): void;
}

/**
 * Where this node's leases stand, for readiness and metrics (actors/http/): settled when the first
 * round is done, it holds its share and hands nothing over (see actors/http/health.ts).
 */
export interface LeaseState {
  /** Lease rounds (heartbeat, renew, rebalance) completed since start. */
  rounds: number;
  /** This node's share at the last round: floor or ceil of P / live nodes. */
  target: number;
  /** Held and not being given up. */
  owned: number;
  /** Being given up: draining their in-flight tasks before release. */
  draining: number;
  /** Live nodes at the last round, this one included. */
  nodes: number;
  /** Partitions whose renewal failed: refused (taken over), error (a script error), expired (not renewed in time). */
  renewFailures: { refused: number; error: number; expired: number };
}

interface Lease {
  epoch: number;
  value: string;
  /** Local time by which the lease must have been renewed (request send time + ttl). */
  validUntil: number;
  draining: boolean;
}

/** Partitions node `rank` (0-based, among `nodes` sorted ids) should hold: floor or ceil of P/nodes. */
export function targetFor(partitions: number, nodes: number, rank: number): number {
  if (nodes <= 0 || rank < 0) return partitions;
  return Math.floor(partitions / nodes) + (rank < partitions % nodes ? 1 : 0);
}

export class LeaseManager {
  private readonly leases = new Map<number, Lease>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private frozen = false;
  private members: string[] = [];
  private readonly store: LeaseStore;
  private rounds = 0;
  private target = 0;
  private readonly renewFailures = { refused: 0, error: 0, expired: 0 };

  constructor(
    conn: Redis,
    keys: Keys,
    private readonly nodeId: string,
    private readonly partitions: number,
    private readonly leaseMs: number,
    private readonly hooks: LeaseHooks,
    private readonly log: Logger,
  ) {
    this.store = new LeaseStore(conn, keys, nodeId, leaseMs);
  }

  async start(): Promise<void> {
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    this.timer = setInterval(() => this.onTimer(), every);
    await this.tickOnce();
  }

  owned(): number[] {
    return [...this.leases.entries()].filter(([, l]) => !l.draining).map(([p]) => p).sort((a, b) => a - b);
  }

  epochOf(p: number): number | undefined {
    return this.leases.get(p)?.epoch;
  }

  liveNodes(): string[] {
    return [...this.members];
  }

  state(): LeaseState {
    let draining = 0;
    for (const l of this.leases.values()) if (l.draining) draining++;
    return { rounds: this.rounds, target: this.target, owned: this.leases.size - draining, draining, nodes: this.members.length, renewFailures: { ...this.renewFailures } };
  }

  private onTimer(): void {
    // Checked even when Redis hangs: a lease we could not renew in time may already be someone else's.
    const now = Date.now();
    for (const [p, l] of this.leases) {
      if (now > l.validUntil) {
        this.log.warn('lease not renewed in time, giving partition up', { partition: p });
        this.renewFailures.expired++;
        this.leases.delete(p);
        this.hooks.lost(p);
      }
    }
    if (!this.ticking) void this.tickOnce();
  }

  private tickOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const t = this.tick()
      .catch((e: unknown) => {
        this.log.warn('lease tick failed', { error: String(e) });
      })
      .finally(() => {
        this.ticking = undefined;
      });
    this.ticking = t;
    return t;
  }

  private async tick(): Promise<void> {
    const sentAt = Date.now();
    // Ranked by id, the same order on every node (the zset orders by heartbeat expiry, which differs
    // between nodes' views and would leave a partition nobody's target covers).
    const members = (await this.store.heartbeat()).sort();
    this.members = members;
    await this.renew(sentAt);
    if (this.stopped || this.frozen) return;
    const target = targetFor(this.partitions, members.length, members.indexOf(this.nodeId));
    this.target = target;
    const held = this.owned();
    if (held.length > target) {
      // Give up the highest-numbered extras; a joining node picks them up once released.
      for (const p of held.slice(target)) this.release(p);
    } else if (held.length < target) {
      await this.acquire(target - held.length);
    }
    this.rounds++;
    this.hooks.tick();
  }

  private async renew(sentAt: number): Promise<void> {
    if (this.leases.size === 0) return;
    const sent = [...this.leases].map(([p, l]) => ({ p, value: l.value }));
    const res = await this.store.renew(sent);
    sent.forEach(({ p, value }, i) => {
      const ok = res[i] ?? new Error('no reply');
      const l = this.leases.get(p);
      if (ok instanceof Error) {
        this.renewFailures.error++;
        return;
      }
      if (!l || l.value !== value) {
        // Renewed a lease we had already given up locally: hand it back.
        if (ok) void this.store.release(p, value).catch(() => {});
        return;
      }
      if (ok) {
        l.validUntil = sentAt + this.leaseMs;
      } else {
        this.log.warn('lease lost', { partition: p, epoch: l.epoch });
        this.renewFailures.refused++;
        this.leases.delete(p);
        this.hooks.lost(p);
      }
    });
  }

  private async acquire(want: number): Promise<void> {
    // Start at a node-specific offset so that nodes joining together mostly try different partitions.
    const start = fnv1a(this.nodeId) % this.partitions;
    const candidates: number[] = [];
    for (let i = 0; i < this.partitions; i++) {
      const p = (start + i) % this.partitions;
      if (!this.leases.has(p)) candidates.push(p);
    }
    const free = (await this.store.free(candidates)).slice(0, want);
    if (free.length === 0) return;
    const sentAt = Date.now();
    const res = await this.store.acquire(free);
    free.forEach((p, i) => {
      const epoch = res[i] ?? 0;
      if (epoch <= 0) return;
      if (this.stopped) {
        void this.store.release(p, `${this.nodeId}|${epoch}`).catch(() => {});
        return;
      }
      this.leases.set(p, { epoch, value: `${this.nodeId}|${epoch}`, validUntil: sentAt + this.leaseMs, draining: false });
      this.hooks.acquired(p, epoch);
    });
    if (free.length) this.log.info('partitions acquired', { count: free.length, owned: this.owned().length });
  }

  private release(p: number): void {
    const l = this.leases.get(p);
    if (!l || l.draining) return;
    l.draining = true;
    void this.hooks
      .drain(p)
      .then(() => this.store.release(p, l.value))
      .catch((e: unknown) => this.log.warn('lease release failed', { partition: p, error: String(e) }))
      .finally(() => {
        if (this.leases.get(p) === l) this.leases.delete(p);
      });
  }

  /** Keep renewing (and heartbeating) but take and give up nothing more: a node shutting down
   * holds its partitions until its in-flight tasks are done, then releases them. */
  freeze(): void {
    this.frozen = true;
  }

  /** Stop ticking; release every lease (callers drain first) and leave the membership. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  async releaseAll(): Promise<void> {
    const all = [...this.leases].map(([p, l]) => ({ p, value: l.value }));
    this.leases.clear();
    await this.store.releaseAll(all);
  }
}
