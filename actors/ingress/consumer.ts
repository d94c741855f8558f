// The node side of the ingress: owns partitions through leases and runs their tasks with weighted
// priorities, a per-node concurrency cap and per-key order. This file wires the units together and
// owns start/stop; each unit keeps one invariant (stated at the top of its file):
//
//   partitions.ts  which partitions are served, and which of their lanes may hold more
//   wakeups.ts     sharded wake-up channels of the served partitions
//   promoter.ts    scheduled tasks → streams when due
//   reader.ts      fetch and claim entries into the lane buffers (held.ts)
//   dispatcher.ts  pick by priority, per-key FIFO, concurrency slots
//   executor.ts    one attempt: handler, timeout, outcome
//   outcomes.ts    results and failures written with their acknowledgement
//   ../../storage/queue-store.ts  every Redis call of the queues
//
// Flow of an entry: fetch-5.lua delivers it (XREADGROUP) and load.lua loads its task into a lane
// buffer; the scheduler picks a lane; if the entry's key already has a task running, the entry waits
// in that key's FIFO (it does not take a concurrency slot); otherwise it runs. Its outcome is written
// by complete_many.lua (batched per event-loop turn, across partitions on one Redis) or fail-5.lua, which store/publish
// and XACK in one atomic step. Only then does the key's next task start.
//
// Wake-ups are pushed, not polled: when fetch-5.lua finds a partition empty it sets the partition's
// idle flag atomically; the next enqueue deletes the flag and publishes on the partition's wake
// channel, to which the owner is subscribed. A periodic pass (every few seconds) covers lost messages.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { DEFAULT_DEAD_LETTER_RETENTION, QueueStore, type DeadLetterRetention } from '../../storage/queue-store.js';
import type { Durability } from '../../storage/scripts.js';
import { closeConnection, nodeConnection, type RedisSource } from '../../storage/redis.js';
import { Dispatcher } from './dispatcher.js';
import { within } from '../within.js';
import { Executor, type Authenticator, type TaskObserver } from './executor.js';
import { HeldTasks } from './held.js';
import { Keys } from './keys.js';
import { LeaseManager, type LeaseState } from './leases.js';
import { OutcomeWriter } from './outcomes.js';
import { DEFAULT_PARTITIONS } from './partition.js';
import { PartitionTable, serving, type Part } from './partitions.js';
import { Promoter } from './promoter.js';
import { Reader } from './reader.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { DEFAULT_WEIGHTS, PriorityScheduler, type Weights } from './scheduler.js';
import type { Handler } from './task.js';
import { Wakeups, type WakeKind } from './wakeups.js';

export interface IngressOptions {
  redis: RedisSource;
  /** Consumer name and membership id; must be unique among live nodes. Default: random. */
  nodeId?: string;
  /** Key prefix shared with producers. Default "hway". */
  prefix?: string;
  /** Number of partitions P; must match the producers'. Default 64. */
  partitions?: number;
  /** Handlers running at once on this node. Default 10. */
  concurrency?: number;
  /** Weights over critical/default/low. Default 6/3/1. */
  weights?: Weights;
  /** Serve the highest non-empty priority first instead of weighting. */
  strict?: boolean;
  handlers?: Record<string, Handler>;
  /** Fallback for types without a registered handler. */
  dispatch?: Handler;
  /** Partition lease TTL; renewed every leaseMs/3. Default 2500. */
  leaseMs?: number;
  /** Grace period for in-flight tasks on stop(). Default 8000. */
  shutdownMs?: number;
  /** How long results (and the records of completed tasks) are kept. Default 24 h. */
  resultTtlMs?: number;
  /** Dead letters kept per partition, and for how long. Default 10,000 and 90 days (as Asynq). */
  deadLetters?: Partial<DeadLetterRetention>;
  /** Verifies each task's credential and request MAC before it runs (auth on); see Executor. */
  authenticate?: Authenticator;
  /** Told about every attempt that ends (type, outcome, timings): the node's metrics. */
  observe?: TaskObserver;
  /** Handler timeout when a task sets none. Default 30 s. */
  defaultTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Pending entries idle this long that this node does not hold are taken up again (see sweepStale). Default 60 s. */
  staleMs?: number;
  /** Tasks held locally beyond the per-priority read-ahead buffers (waiting on their key, running). Default max(100, concurrency * 10). */
  maxHeld?: number;
  /** Stop gracefully on SIGTERM/SIGINT, then exit the process. Default false. */
  handleSignals?: boolean;
  logger?: Logger;
  /**
   * Outcome writes wait for this many replicas (WAIT) before they count. Off by default: see the
   * ingress README for what a master failover can lose without it, and what it costs.
   */
  durability?: Durability;
}

export interface IngressStats {
  completed: number;
  retried: number;
  archived: number;
  /** Deliveries answered from the result store instead of running again. */
  answeredFromStore: number;
  /** Entries that were unusable (no task id, record deleted) and were dropped. */
  dropped: number;
  inFlight: number;
  held: number;
}

export interface Ingress {
  readonly nodeId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  register(type: string, handler: Handler): void;
  ownedPartitions(): number[];
  /** Fencing epoch under which this node holds partition p (undefined if it does not). */
  epochOf(p: number): number | undefined;
  liveNodes(): string[];
  stats(): IngressStats;
  /** The leases (LeaseState), plus `claiming`: partitions taken whose pending entries are still being claimed. */
  leaseState(): LeaseState & { claiming: number };
}


const SAFETY_EVERY_MS = 3000;

class IngressImpl implements Ingress {
  readonly nodeId: string;
  private readonly keys: Keys;
  private readonly P: number;
  private readonly leaseMs: number;
  private readonly shutdownMs: number;
  private readonly staleMs: number;
  private readonly handlers = new Map<string, Handler>();
  private readonly log: Logger;
  private readonly counters = { completed: 0, retried: 0, archived: 0, answeredFromStore: 0, dropped: 0 };
  private readonly table = new PartitionTable();
  private readonly held = new HeldTasks();
  private readonly sched: PriorityScheduler;
  private readonly retention: DeadLetterRetention;

  private conn!: Redis;
  private sub!: Redis;
  private leases!: LeaseManager;
  private wakeups!: Wakeups;
  private promoter!: Promoter;
  private reader!: Reader;
  private dispatcher!: Dispatcher;
  private executor!: Executor;
  private wakePumpQueued = false;
  private safetyTicks = 0;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private everReady = false;

  constructor(private readonly opts: IngressOptions) {
    this.nodeId = opts.nodeId ?? `node-${randomUUID().slice(0, 8)}`;
    this.keys = new Keys(opts.prefix ?? 'hway');
    this.P = opts.partitions ?? DEFAULT_PARTITIONS;
    this.leaseMs = opts.leaseMs ?? 2500;
    this.shutdownMs = opts.shutdownMs ?? 8000;
    this.staleMs = opts.staleMs ?? 60_000;
    for (const [t, h] of Object.entries(opts.handlers ?? {})) this.handlers.set(t, h);
    this.log = opts.logger ?? makeLogger('ingress', { node: this.nodeId });
    const concurrency = opts.concurrency ?? 10;
    if (!Number.isInteger(this.P) || this.P < 1) throw new RangeError('partitions must be a positive integer');
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    // Made now, so that bad weights (or retention) throw here rather than at start().
    this.sched = new PriorityScheduler(opts.weights ?? DEFAULT_WEIGHTS, opts.strict ?? false);
    this.retention = deadLetterRetention(opts.deadLetters);
  }

  register(type: string, handler: Handler): void {
    this.handlers.set(type, handler);
  }

  ownedPartitions(): number[] {
    return this.leases ? this.leases.owned() : [];
  }

  epochOf(p: number): number | undefined {
    return this.leases?.epochOf(p);
  }

  liveNodes(): string[] {
    return this.leases ? this.leases.liveNodes() : [];
  }

  stats(): IngressStats {
    return { ...this.counters, inFlight: this.dispatcher?.active ?? 0, held: this.held.size };
  }

  leaseState(): LeaseState & { claiming: number } {
    let claiming = 0;
    for (const part of this.table.all()) if (part.status === 'claiming') claiming++;
    const none: LeaseState = { rounds: 0, target: 0, owned: 0, draining: 0, nodes: 0, renewFailures: { refused: 0, error: 0, expired: 0 } };
    return { ...(this.leases ? this.leases.state() : none), claiming };
  }

  /** Builds the units over the node's two connections (commands, and wake-up subscriptions). */
  private wire(): void {
    const o = this.opts;
    const concurrency = o.concurrency ?? 10;
    const maxHeld = o.maxHeld ?? Math.max(100, concurrency * 10);
    const resultTtlMs = o.resultTtlMs ?? 24 * 3600 * 1000;
    const store = new QueueStore(this.conn, this.keys, this.nodeId, o.durability);
    const pump = () => this.dispatcher.pump();
    this.promoter = new Promoter(store, this.log, (part) => {
      this.table.reopen(part);
      pump();
    });
    const outcomes = new OutcomeWriter(store, resultTtlMs, this.retention, o.retry ?? DEFAULT_RETRY, this.counters, this.log, (part, next, delay) => this.promoter.armBy(part, next, delay));
    this.executor = new Executor(this.handlers, o.dispatch, outcomes, o.authenticate, o.observe);
    this.reader = new Reader(
      store,
      this.table,
      this.held,
      { bufTarget: Math.max(16, concurrency * 4), maxHeld, defaultTimeoutMs: o.defaultTimeoutMs ?? 30_000, staleMs: this.staleMs },
      this.counters,
      this.log,
      pump,
    );
    this.dispatcher = new Dispatcher(concurrency, maxHeld, this.held, this.table, this.sched, this.executor, this.log, () => void this.reader.refill());
    this.wakeups = new Wakeups(this.sub, this.keys, this.log, (p, kind) => this.onWake(p, kind));
  }

  async start(): Promise<void> {
    if (this.started) throw new HwayError('E_BAD_INPUT', 'ingress already started');
    this.started = true;
    this.conn = nodeConnection(this.opts.redis, `hway:${this.nodeId}`);
    this.sub = nodeConnection(this.opts.redis, `hway:${this.nodeId}:sub`, { sharded: true });
    for (const c of [this.conn, this.sub]) c.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    this.wire();
    this.conn.on('ready', () => {
      if (this.everReady) this.afterReconnect();
      this.everReady = true;
    });
    this.sub.on('ready', () => this.reopenAll());
    this.leases = new LeaseManager(this.conn, this.keys, this.nodeId, this.P, this.leaseMs, {
      acquired: (p, epoch) => this.addPartition(p, epoch),
      lost: (p) => this.removePartition(p),
      drain: (p) => this.drainPartition(p),
      tick: () => this.safetyPass(),
    }, this.log);
    if (this.opts.handleSignals) {
      const onSignal = (sig: string) => {
        this.log.info('signal, stopping', { signal: sig });
        void this.stop().finally(() => process.exit(0));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
    this.dispatcher.started = true;
    this.executor.start();
    await this.leases.start();
    this.log.info('ingress started', { partitions: this.P, owned: this.leases.owned().length, concurrency: this.opts.concurrency ?? 10 });
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    if (!this.started) return;
    this.stopping = this.dispatcher.stopping = this.reader.stopping = this.promoter.stopping = true;
    // Leases stay renewed while in-flight tasks finish: another node must not claim them meanwhile.
    this.leases.freeze();
    // Not-yet-started entries stay in the PEL; whoever owns the partition next claims them.
    for (const part of this.table.all()) this.dispatcher.purge(part);
    const deadline = Date.now() + this.shutdownMs;
    while (this.dispatcher.inFlight > 0 && Date.now() < deadline) await sleep(10);
    if (this.dispatcher.inFlight > 0) {
      this.log.warn('shutdown timeout with tasks in flight; they will be delivered again', { inFlight: this.dispatcher.inFlight });
      this.executor.abortAll(new HwayError('E_CLOSED', 'node shutting down'));
    }
    this.executor.stop();
    await this.leases.stop();
    for (const part of [...this.table.all()]) this.close(part);
    await within(this.leases.releaseAll(), 2000).catch((e: unknown) => this.log.warn('lease release on stop failed', { error: String(e) }));
    await Promise.all([closeConnection(this.sub), closeConnection(this.conn)]);
    this.log.info('ingress stopped', this.counters);
  }

  // ---- partitions ----

  private addPartition(p: number, epoch: number): void {
    if (this.stopping) return;
    if (this.table.get(p)) this.removePartition(p);
    const part = this.table.add(p, epoch);
    // Subscribe before the first fetch (see wakeups.ts), then claim what is pending, then promote.
    void this.wakeups
      .listen(p)
      .then(() => this.reader.claim(part))
      .then(() => this.promoter.promote(part));
  }

  /** Stop serving a partition: drop what has not started (it stays pending in Redis) and stop listening. */
  private close(part: Part): void {
    this.table.remove(part);
    this.dispatcher.purge(part);
    this.reader.hot.delete(part);
    this.promoter.cancel(part);
    this.wakeups.forget(part.p);
  }

  private removePartition(p: number): void {
    const part = this.table.get(p);
    if (part) this.close(part);
  }

  private drainPartition(p: number): Promise<void> {
    const part = this.table.get(p);
    if (!part) return Promise.resolve();
    this.table.drain(part);
    this.dispatcher.purge(part);
    const done = part.inflight === 0 ? Promise.resolve() : new Promise<void>((r) => part.drained.push(r));
    return done.then(() => this.close(part));
  }

  private reopenAll(): void {
    for (const part of this.table.all()) this.table.reopen(part);
    this.dispatcher?.pump();
  }

  // ---- wake-ups and safety nets ----

  private onWake(p: number, kind: WakeKind): void {
    const part = this.table.get(p);
    if (!part || !serving(part)) return;
    if (kind === 'scheduled') {
      void this.promoter.promote(part);
      return;
    }
    this.table.reopen(part);
    this.reader.hot.add(part);
    // Wake-ups arrive in bursts (one read can carry many): read all their partitions in one round.
    if (!this.wakePumpQueued) {
      this.wakePumpQueued = true;
      setImmediate(() => {
        this.wakePumpQueued = false;
        this.dispatcher.pump();
      });
    }
  }

  /**
   * Safety net for wake-ups lost with a pub/sub message (e.g. across a reconnect): one probe of
   * every partition believed exhausted, instead of reopening them all (which would make the regular
   * refill walk through every partition before reaching one with new work).
   */
  private safetyPass(): void {
    if (this.stopping) return;
    // Each partition is checked once per period, a slice of them on every tick, so that the cost
    // (a script or two per partition) is spread out instead of arriving as one burst.
    const tickMs = Math.max(50, Math.floor(this.leaseMs / 3));
    const period = Math.min(SAFETY_EVERY_MS, this.staleMs / 2);
    const ticksPerPeriod = Math.max(1, Math.round(period / tickMs));
    const tick = this.safetyTicks % ticksPerPeriod;
    const round = Math.floor(this.safetyTicks / ticksPerPeriod);
    this.safetyTicks++;
    const sweep = round % Math.max(1, Math.round(this.staleMs / 2 / period)) === 0;
    const quiet: Part[] = [];
    const slice: Part[] = [];
    for (const part of this.table.all()) {
      if (part.status !== 'active' || part.p % ticksPerPeriod !== tick) continue;
      slice.push(part);
      if (part.exhausted[0] && part.exhausted[1] && part.exhausted[2]) quiet.push(part);
      if (!this.promoter.hasTimer(part)) void this.promoter.promote(part);
    }
    this.reader.probe(quiet);
    if (sweep && round > 0) this.reader.sweepStale(slice);
  }

  private afterReconnect(): void {
    // A fetch whose reply was lost in the disconnect may have delivered entries to our PEL: claim them.
    this.log.info('redis reconnected, reclaiming pending entries');
    for (const part of this.table.all()) {
      if (part.status !== 'active') continue;
      this.table.reclaim(part);
      void this.reader.claim(part).then(() => this.promoter.promote(part));
    }
  }
}

export function createIngress(opts: IngressOptions): Ingress {
  return new IngressImpl(opts);
}

/** The retention asked for, over the defaults; a RangeError when it would keep nothing. */
function deadLetterRetention(r: Partial<DeadLetterRetention> = {}): DeadLetterRetention {
  const out = { ...DEFAULT_DEAD_LETTER_RETENTION, ...r };
  if (!Number.isInteger(out.max) || out.max < 1) throw new RangeError('deadLetters.max must be a positive integer');
  if (!Number.isFinite(out.maxAgeMs) || out.maxAgeMs < 1) throw new RangeError('deadLetters.maxAgeMs must be a positive number of ms');
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

