// The node side of the ingress: owns partitions through leases, reads their streams, and runs tasks
// with weighted priorities, a per-node concurrency cap and per-key order.
//
// Flow of an entry: fetch-4.lua delivers it (XREADGROUP) into a local per-priority buffer; the
// scheduler picks a priority; if the entry's key already has a task running, the entry waits in that
// key's FIFO (it does not take a concurrency slot); otherwise it runs. Its outcome is written by
// complete_many.lua (batched per partition and event-loop turn) or fail-5.lua, which store/publish and
// XACK in one atomic step. Only then does the key's next task start, so a key's tasks run one at a
// time in arrival order. The handler's concurrency slot is given back as soon as it returns.
//
// Wake-ups are pushed, not polled: when fetch-4.lua finds a partition empty it sets the partition's
// idle flag atomically; the next enqueue deletes the flag and publishes on the partition's wake
// channel, to which the owner is subscribed. A periodic pass (every few seconds) covers lost messages.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { HwayError, isHwayError, type ErrorCode } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { defineScripts, pipeScript, runScript } from '../../storage/scripts.js';
import { GROUP, Keys, PRIORITIES } from './keys.js';
import { LeaseManager } from './leases.js';
import { DEFAULT_PARTITIONS } from './partition.js';
import { backoffMs, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { DEFAULT_WEIGHTS, PriorityScheduler, type Lane, type Weights } from './scheduler.js';
import { closeConnection, nodeConnection, type RedisSource } from '../../storage/redis.js';
import type { Envelope, Handler, Json, Task } from './task.js';

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
}

interface Part {
  p: number;
  epoch: number;
  status: 'claiming' | 'active' | 'draining' | 'gone';
  /** Per priority: the last fetch came back short, so Redis probably has nothing more. */
  exhausted: [boolean, boolean, boolean];
  inflight: number;
  /** A fetch round is reading this partition. */
  reading: boolean;
  /** Bumped by every wake-up; a fetch sent before a wake-up must not mark the partition exhausted. */
  wakeSeq: number;
  drained: Array<() => void>;
  timer: NodeJS.Timeout | undefined;
  promoting: boolean;
}

interface Entry {
  part: Part;
  prio: number;
  entryId: string;
  id: string;
  attempt: number;
  type: string | null;
  payloadRaw: string | null;
  key: string;
  maxRetries: number;
  timeoutMs: number;
  reply: string;
  enq: number;
}

interface Completion {
  e: Entry;
  envelope: string;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One run of a task: its deadline, and an abort signal made only if the handler asks for it. */
class Attempt {
  private ac: AbortController | undefined;
  onTimeout: (() => void) | undefined;
  constructor(readonly deadline: number) {}
  get signal(): AbortSignal {
    this.ac ??= new AbortController();
    return this.ac.signal;
  }
  abort(reason: Error): void {
    this.ac ??= new AbortController();
    this.ac.abort(reason);
  }
}

type Row = [number, string, string | null, string?, string?, string?, string?, string?, string?, string?, string?];

const PROMOTE_BATCH = 500;
const CLAIM_BATCH = 200;
const FETCH_FANOUT = 16;
const MAX_FETCHES = 2;
const MIN_PER_FETCH = 16;
const MAX_COMPLETE_BATCH = 100;
const TIMEOUT_SWEEP_MS = 20;
const SAFETY_EVERY_MS = 3000;

class IngressImpl implements Ingress {
  readonly nodeId: string;
  private readonly keys: Keys;
  private readonly P: number;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly shutdownMs: number;
  private readonly resultTtlMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly staleMs: number;
  private readonly maxHeld: number;
  private readonly maxFinishing: number;
  private readonly bufTarget: number;
  private readonly handlers = new Map<string, Handler>();
  private readonly dispatch: Handler | undefined;
  private readonly sched: PriorityScheduler;
  private readonly log: Logger;

  private conn!: Redis;
  private sub!: Redis;
  private leases!: LeaseManager;
  private readonly parts = new Map<number, Part>();
  private readonly channelToPart = new Map<string, number>();
  /** Tasks whose key was just handed to them: they run before new picks. */
  private unblocked: Entry[] = [];
  /** Partitions woken since the last fetch round. */
  private readonly hot = new Set<Part>();
  private wakePumpQueued = false;
  private readonly buffers: [Entry[], Entry[], Entry[]] = [[], [], []];
  /** Keys with a task running; the array holds that key's next tasks in order. */
  private readonly keyQueues = new Map<string, Entry[]>();
  /** Every entry held locally, by "p/prio/entryId" (skipped when claiming the PEL again). */
  private readonly held = new Map<string, Entry>();
  private readonly running = new Map<string, Attempt>();
  private pendingDone = new Map<Part, Completion[]>();
  private flushQueued = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Active partitions not known to be exhausted, per priority. */
  private readonly openLanes = [0, 0, 0];
  private active = 0;
  /** Tasks whose handler is done and whose outcome is being written, having given their slot back. */
  private finishing = 0;
  private safetyTicks = 0;
  /** Fetch rounds in flight (a second one may start while the first is on the wire). */
  private fetching = 0;
  private backingOff = false;
  private fetchBackoffUntil = 0;
  private fetchCursor = 0;
  private pumping = false;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private everReady = false;
  private readonly counters = { completed: 0, retried: 0, archived: 0, answeredFromStore: 0, dropped: 0 };

  constructor(private readonly opts: IngressOptions) {
    this.nodeId = opts.nodeId ?? `node-${randomUUID().slice(0, 8)}`;
    this.keys = new Keys(opts.prefix ?? 'hway');
    this.P = opts.partitions ?? DEFAULT_PARTITIONS;
    this.concurrency = opts.concurrency ?? 10;
    this.leaseMs = opts.leaseMs ?? 2500;
    this.shutdownMs = opts.shutdownMs ?? 8000;
    this.resultTtlMs = opts.resultTtlMs ?? 24 * 3600 * 1000;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 30_000;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.staleMs = opts.staleMs ?? 60_000;
    this.maxHeld = opts.maxHeld ?? Math.max(100, this.concurrency * 10);
    this.maxFinishing = Math.max(this.concurrency, Math.floor(this.maxHeld / 2));
    this.bufTarget = Math.max(16, this.concurrency * 4);
    this.sched = new PriorityScheduler(opts.weights ?? DEFAULT_WEIGHTS, opts.strict ?? false);
    this.dispatch = opts.dispatch;
    for (const [t, h] of Object.entries(opts.handlers ?? {})) this.handlers.set(t, h);
    this.log = opts.logger ?? makeLogger('ingress', { node: this.nodeId });
    if (!Number.isInteger(this.P) || this.P < 1) throw new RangeError('partitions must be a positive integer');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
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
    return { ...this.counters, inFlight: this.active, held: this.held.size };
  }

  async start(): Promise<void> {
    if (this.started) throw new HwayError('E_BAD_INPUT', 'ingress already started');
    this.started = true;
    this.conn = nodeConnection(this.opts.redis, `hway:${this.nodeId}`);
    this.sub = nodeConnection(this.opts.redis, `hway:${this.nodeId}:sub`);
    for (const c of [this.conn, this.sub]) c.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    defineScripts(this.conn);
    this.conn.on('ready', () => {
      if (this.everReady) this.afterReconnect();
      this.everReady = true;
    });
    this.sub.on('ready', () => this.reopenAll());
    this.sub.on('message', (channel: string, msg: string) => this.onWake(channel, msg));
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
    this.sweeper = setInterval(() => this.sweepTimeouts(), TIMEOUT_SWEEP_MS);
    this.sweeper.unref();
    await this.leases.start();
    this.log.info('ingress started', { partitions: this.P, owned: this.leases.owned().length, concurrency: this.concurrency });
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    if (!this.started) return;
    this.stopping = true;
    // Leases stay renewed while in-flight tasks finish: another node must not claim them meanwhile.
    this.leases.freeze();
    // Not-yet-started entries stay in the PEL; whoever owns the partition next claims them.
    for (const part of this.parts.values()) this.purge(part);
    const deadline = Date.now() + this.shutdownMs;
    while (this.running.size > 0 && Date.now() < deadline) await sleep(10);
    if (this.running.size > 0) {
      this.log.warn('shutdown timeout with tasks in flight; they will be delivered again', { inFlight: this.running.size });
      for (const a of this.running.values()) a.abort(new HwayError('E_CLOSED', 'node shutting down'));
    }
    if (this.sweeper) clearInterval(this.sweeper);
    await this.leases.stop();
    for (const part of this.parts.values()) this.closePart(part);
    this.parts.clear();
    await withTimeout(this.leases.releaseAll(), 2000).catch((e: unknown) => this.log.warn('lease release on stop failed', { error: String(e) }));
    await Promise.all([closeConnection(this.sub), closeConnection(this.conn)]);
    this.log.info('ingress stopped', this.counters);
  }

  // ---- partitions ----

  private addPartition(p: number, epoch: number): void {
    if (this.stopping) return;
    const old = this.parts.get(p);
    if (old) this.removePartition(p);
    const part: Part = { p, epoch, status: 'claiming', exhausted: [false, false, false], inflight: 0, reading: false, wakeSeq: 0, drained: [], timer: undefined, promoting: false };
    this.parts.set(p, part);
    for (let i = 0; i < 3; i++) this.openLanes[i]!++;
    const ch = this.keys.wakeChannel(p);
    this.channelToPart.set(ch, p);
    // Subscribe before the first fetch: a fetch that finds the partition empty arms the idle flag,
    // and the wake-up that flag triggers must find us listening.
    // (Only once the connection is ready, with no deadline: the node's connection reconnects forever.)
    void this.subReady()
      .then(() => this.sub.subscribe(ch))
      .catch((e: unknown) => this.log.warn('subscribe failed', { partition: p, error: String(e) }))
      .then(() => this.claim(part))
      .then(() => this.promote(part));
  }

  private subReady(): Promise<void> {
    if (this.sub.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.sub.once('ready', () => resolve()));
  }

  private setExhausted(part: Part, i: number, v: boolean): void {
    if (part.exhausted[i] === v) return;
    part.exhausted[i] = v;
    if (part.status === 'active' || part.status === 'claiming') this.openLanes[i]! += v ? -1 : 1;
  }

  private reopen(part: Part): void {
    part.wakeSeq++;
    for (let i = 0; i < 3; i++) this.setExhausted(part, i, false);
  }

  private reopenAll(): void {
    for (const part of this.parts.values()) this.reopen(part);
    this.pump();
  }

  /** Stop serving p: drop what has not started (it stays pending in Redis) and stop listening. */
  private closePart(part: Part): void {
    if (part.status === 'gone' || part.status === 'draining') {
      part.status = 'gone';
    } else {
      for (let i = 0; i < 3; i++) if (!part.exhausted[i]) this.openLanes[i]!--;
      part.status = 'gone';
    }
    this.purge(part);
    this.hot.delete(part);
    if (part.timer) clearTimeout(part.timer);
    part.timer = undefined;
    const ch = this.keys.wakeChannel(part.p);
    this.channelToPart.delete(ch);
    if (this.sub && this.sub.status !== 'end') void this.sub.unsubscribe(ch).catch(() => {});
  }

  private removePartition(p: number): void {
    const part = this.parts.get(p);
    if (!part) return;
    this.parts.delete(p);
    this.closePart(part);
  }

  private drainPartition(p: number): Promise<void> {
    const part = this.parts.get(p);
    if (!part) return Promise.resolve();
    if (part.status === 'active' || part.status === 'claiming') {
      for (let i = 0; i < 3; i++) if (!part.exhausted[i]) this.openLanes[i]!--;
    }
    part.status = 'draining';
    this.purge(part);
    const done = part.inflight === 0 ? Promise.resolve() : new Promise<void>((r) => part.drained.push(r));
    return done.then(() => {
      if (this.parts.get(p) === part) this.parts.delete(p);
      this.closePart(part);
    });
  }

  /** Forget the entries of `part` that have not started. */
  private purge(part: Part): void {
    for (let i = 0; i < 3; i++) {
      const buf = this.buffers[i]!;
      if (buf.some((e) => e.part === part)) this.buffers[i] = buf.filter((e) => e.part !== part) as Entry[];
    }
    for (const [key, q] of this.keyQueues) {
      if (q.length && q.some((e) => e.part === part)) this.keyQueues.set(key, q.filter((e) => e.part !== part));
    }
    for (const [k, e] of this.held) if (e.part === part && !this.running.has(k)) this.held.delete(k);
  }

  // ---- wake-ups, scheduled tasks, safety nets ----

  private onWake(channel: string, msg: string): void {
    const p = this.channelToPart.get(channel);
    if (p === undefined) return;
    const part = this.parts.get(p);
    if (!part || part.status === 'gone' || part.status === 'draining') return;
    if (msg === 's') void this.promote(part);
    else {
      this.reopen(part);
      this.hot.add(part);
      // Wake-ups arrive in bursts (one read can carry many): read all their partitions in one round.
      if (!this.wakePumpQueued) {
        this.wakePumpQueued = true;
        setImmediate(() => {
          this.wakePumpQueued = false;
          this.pump();
        });
      }
    }
  }

  private async promote(part: Part): Promise<void> {
    if (part.promoting || part.status === 'gone' || part.status === 'draining' || this.stopping) return;
    part.promoting = true;
    try {
      for (;;) {
        const [moved, next] = (await runScript(this.conn, 'promote', [this.keys.scheduled(part.p), ...this.keys.streams(part.p)], [
          this.keys.part(part.p),
          PROMOTE_BATCH,
        ])) as [number, number];
        if (moved > 0) {
          this.reopen(part);
          this.pump();
        }
        if (moved >= PROMOTE_BATCH) continue;
        this.armTimer(part, next);
        break;
      }
    } catch (e) {
      this.log.warn('promote failed', { partition: part.p, error: String(e) });
    } finally {
      part.promoting = false;
    }
  }

  private armTimer(part: Part, inMs: number): void {
    if (part.timer) clearTimeout(part.timer);
    part.timer = undefined;
    if (inMs < 0 || part.status === 'gone' || part.status === 'draining') return;
    // +1: Redis' clock must have passed the due time when the script runs
    part.timer = setTimeout(() => {
      part.timer = undefined;
      void this.promote(part);
    }, inMs + 1);
  }

  /**
   * Safety net for wake-ups lost with a pub/sub message (e.g. across a reconnect): one pipelined
   * probe of every partition believed exhausted, instead of reopening them all (which would make
   * the regular refill walk through every partition before reaching one with new work).
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
    for (const part of this.parts.values()) {
      if (part.status !== 'active' || part.p % ticksPerPeriod !== tick) continue;
      slice.push(part);
      if (part.exhausted[0] && part.exhausted[1] && part.exhausted[2]) quiet.push(part);
      if (!part.timer) void this.promote(part);
    }
    if (quiet.length && this.beyondBuffers() < this.maxHeld) {
      void this.fetchFrom(quiet, [1, 1, 1]).then(() => this.pump());
    }
    if (sweep && round > 0) this.sweepStale(slice);
  }

  private afterReconnect(): void {
    // A fetch whose reply was lost in the disconnect may have delivered entries to our PEL: claim them.
    this.log.info('redis reconnected, reclaiming pending entries');
    for (const part of this.parts.values()) {
      if (part.status !== 'active') continue;
      part.status = 'claiming';
      void this.claim(part).then(() => this.promote(part));
    }
  }

  // ---- fetching ----

  private toEntry(part: Part, row: Row): Entry | undefined {
    const [prio, entryId, id, att, type, payload, key, max, tmo, reply, enq] = row;
    if (!id) {
      this.counters.dropped++;
      this.log.warn('dropped unusable stream entry', { partition: part.p, entry: entryId });
      return undefined;
    }
    return {
      part,
      prio: prio - 1,
      entryId,
      id,
      attempt: Number(att) || 1,
      type: type ?? null,
      payloadRaw: payload ?? null,
      key: key || id,
      maxRetries: Number(max) || 0,
      timeoutMs: Number(tmo) || this.defaultTimeoutMs,
      reply: reply ?? '',
      enq: Number(enq) || 0,
    };
  }

  private accept(part: Part, rows: Row[]): void {
    for (const row of rows) {
      const e = this.toEntry(part, row);
      if (!e) continue;
      const k = heldKey(e);
      if (this.held.has(k)) continue;
      this.held.set(k, e);
      this.buffers[e.prio]!.push(e);
    }
  }

  private async claim(part: Part): Promise<void> {
    try {
      await this.claimFrom(part, 0, () => part.status === 'claiming');
      if (part.status === 'claiming') part.status = 'active';
    } catch (e) {
      this.log.warn('claim failed, retrying', { partition: part.p, error: String(e) });
      await sleep(200);
      if (part.status === 'claiming' && !this.stopping) return this.claim(part);
    } finally {
      this.pump();
    }
  }

  /** XAUTOCLAIM every pending entry idle for minIdleMs into the buffers (skipping those held here). */
  private async claimFrom(part: Part, minIdleMs: number, still: () => boolean): Promise<void> {
    const streams = this.keys.streams(part.p);
    for (let i = 0; i < 3; i++) {
      let cursor = '0-0';
      do {
        if (!still()) return;
        const [next, answered, rows] = (await runScript(this.conn, 'claim', [streams[i]!], [
          GROUP,
          this.nodeId,
          cursor,
          CLAIM_BATCH,
          this.keys.part(part.p),
          i + 1,
          minIdleMs,
        ])) as [string, number, Row[]];
        this.counters.answeredFromStore += answered;
        if (!still()) return;
        this.accept(part, rows);
        cursor = next;
      } while (cursor !== '0-0');
    }
  }

  /**
   * Entries whose outcome could not be written (a script error, not a disconnect: those are queued)
   * stay pending; this sweep hands them to the node again after staleMs.
   */
  private sweepStale(parts: Part[]): void {
    for (const part of parts) {
      if (part.status !== 'active') continue;
      void this.claimFrom(part, this.staleMs, () => part.status === 'active' && !this.stopping)
        .then(() => this.pump())
        .catch((e: unknown) => this.log.warn('stale sweep failed', { partition: part.p, error: String(e) }));
    }
  }

  /** Entries waiting on their key or running; buffered ones are bounded per lane by bufTarget. */
  private beyondBuffers(): number {
    return this.held.size - this.buffers[0].length - this.buffers[1].length - this.buffers[2].length;
  }

  private needsRefill(): boolean {
    if (this.beyondBuffers() >= this.maxHeld) return false;
    const low = this.bufTarget / 2;
    for (let i = 0; i < 3; i++) if (this.openLanes[i]! > 0 && this.buffers[i]!.length < low) return true;
    return false;
  }

  private async refill(): Promise<void> {
    if (this.fetching >= MAX_FETCHES || this.backingOff || this.stopping || !this.needsRefill()) return;
    const wait = this.fetchBackoffUntil - Date.now();
    if (wait > 0) {
      this.backingOff = true;
      setTimeout(() => {
        this.backingOff = false;
        this.pump();
      }, wait);
      return;
    }
    const lanes = this.laneNeeds();
    // A partition already being read is left to that round.
    const isOpen = (part: Part) => part.status === 'active' && !part.reading && lanes.some((need, i) => need > 0 && !part.exhausted[i]);
    const open: Part[] = [];
    for (const part of this.parts.values()) if (isOpen(part)) open.push(part);
    if (open.length === 0) return;
    // Few partitions, many entries each: fewer script calls, and completions that batch per partition.
    const maxNeed = Math.max(...lanes);
    const n = Math.min(open.length, FETCH_FANOUT, Math.max(1, Math.ceil(maxNeed / MIN_PER_FETCH)));
    // Partitions that just announced new work go first, and all of them (they were idle a moment
    // ago and hold little), so that a wake-up is served within a round trip.
    const chosen: Part[] = [];
    const wasHot = new Set<Part>();
    for (const part of this.hot) {
      if (!isOpen(part)) continue;
      chosen.push(part);
      wasHot.add(part);
      this.hot.delete(part);
    }
    const start = this.fetchCursor++ % open.length;
    for (let j = 0; j < open.length && chosen.length < n; j++) {
      const part = open[(start + j) % open.length]!;
      if (!chosen.includes(part)) chosen.push(part);
    }
    this.fetching++;
    for (const part of chosen) part.reading = true;
    try {
      await this.fetchFrom(chosen, lanes.map((need) => Math.ceil(need / chosen.length)), wasHot);
    } finally {
      this.fetching--;
      for (const part of chosen) part.reading = false;
    }
    this.pump();
  }

  private laneNeeds(): number[] {
    return [0, 1, 2].map((i) => Math.max(0, this.bufTarget - this.buffers[i]!.length));
  }

  /**
   * One pipelined round of fetch-4.lua over `chosen`, asking `perLane[i]` entries of each lane that
   * has room. A full lane is asked for nothing, except for one entry when the partition believes it
   * exhausted: a partition can then only look exhausted in all three lanes after a fetch that read
   * all three, which is when fetch-4.lua arms its idle flag.
   */
  private async fetchFrom(chosen: Part[], perLane: number[], wasHot?: Set<Part>): Promise<void> {
    const lanes = this.laneNeeds();
    try {
      const pipe = this.conn.pipeline();
      // The wake-up channel is another connection: its message can overtake this fetch's reply.
      const seqs = chosen.map((part) => part.wakeSeq);
      for (const part of chosen) {
        const c = lanes.map((need, i) => (need > 0 ? Math.max(1, perLane[i]!) : part.exhausted[i] ? 1 : 0));
        const hints = part.exhausted.map((x) => (x ? '1' : '0'));
        pipeScript(pipe, 'fetch', [...this.keys.streams(part.p), this.keys.idle(part.p)], [GROUP, this.nodeId, c[0]!, c[1]!, c[2]!, this.keys.part(part.p), ...hints]);
      }
      const res = (await pipe.exec()) ?? [];
      let failed = false;
      chosen.forEach((part, j) => {
        const [err, val] = res[j] ?? [new Error('no reply'), null];
        if (err) {
          failed = true;
          this.log.warn('fetch failed', { partition: part.p, error: String(err) });
          return;
        }
        const [short, answered, rows, read] = val as [number, number, Row[], number];
        this.counters.answeredFromStore += answered;
        // Entries delivered to a partition we no longer serve stay pending for the next owner.
        if (part.status !== 'active') return;
        const woken = part.wakeSeq !== seqs[j];
        for (let i = 0; i < 3; i++) if (read & (1 << i)) this.setExhausted(part, i, !woken && (short & (1 << i)) !== 0);
        this.accept(part, rows);
        // A woken partition that filled its share may hold more: it stays first in line rather than
        // waiting for its turn in the rotation.
        if (wasHot?.has(part) && (read & ~short & 7) !== 0) this.hot.add(part);
      });
      if (failed) this.fetchBackoffUntil = Date.now() + 200;
    } catch (e) {
      this.log.warn('fetch round failed', { error: String(e) });
      this.fetchBackoffUntil = Date.now() + 200;
    }
  }

  // ---- dispatch ----

  private readonly laneState: Lane[] = [0, 1, 2].map(() => ({ ready: false, maybeMore: false }));

  private lanes(): Lane[] {
    const canFetch = this.beyondBuffers() < this.maxHeld;
    for (let i = 0; i < 3; i++) {
      const l = this.laneState[i]!;
      l.ready = this.buffers[i]!.length > 0;
      l.maybeMore = canFetch && this.openLanes[i]! > 0;
    }
    return this.laneState;
  }

  private pump(): void {
    if (this.pumping || !this.started) return;
    this.pumping = true;
    try {
      while (!this.stopping && this.active < this.concurrency && this.unblocked.length) {
        const e = this.unblocked.shift()!;
        if (e.part.status === 'gone' || e.part.status === 'draining') this.next(e.key);
        else void this.run(e);
      }
      while (!this.stopping && this.active < this.concurrency) {
        const i = this.sched.pick(this.lanes());
        if (i < 0) break;
        const e = this.buffers[i]!.shift()!;
        if (e.part.status === 'gone' || e.part.status === 'draining') continue;
        const q = this.keyQueues.get(e.key);
        if (q) {
          q.push(e);
          continue;
        }
        this.keyQueues.set(e.key, []);
        void this.run(e);
      }
    } finally {
      this.pumping = false;
    }
    void this.refill();
  }

  private async run(e: Entry): Promise<void> {
    this.active++;
    e.part.inflight++;
    const hk = heldKey(e);
    const attempt = new Attempt(Date.now() + e.timeoutMs);
    this.running.set(hk, attempt);
    let slotFree = false;
    // The concurrency slot bounds running handlers; it is given back as soon as the handler is done,
    // while its outcome is being written — up to maxFinishing such tasks (half of maxHeld), so that
    // handlers never run far ahead of Redis and read-ahead stays possible. The key stays taken until
    // the outcome is stored, so the key's next task still starts only after that.
    let finishing = false;
    const freeSlot = () => {
      if (slotFree || this.finishing >= this.maxFinishing) return;
      slotFree = true;
      finishing = true;
      this.finishing++;
      this.active--;
      this.pump();
    };
    try {
      await this.execute(e, attempt, freeSlot);
    } catch (err) {
      // Only a failure to record the outcome gets here; the entry stays pending and is claimed again.
      this.log.error('could not record task outcome', { task: e.id, partition: e.part.p, error: String(err) });
    } finally {
      this.running.delete(hk);
      this.held.delete(hk);
      if (finishing) this.finishing--;
      if (!slotFree) {
        slotFree = true;
        this.active--;
      }
      e.part.inflight--;
      if (e.part.inflight === 0 && e.part.drained.length) for (const r of e.part.drained.splice(0)) r();
      this.next(e.key);
      this.pump();
    }
  }

  /**
   * The key's running task is done: hand the key to its next waiting task (which then runs before
   * anything the scheduler picks, as soon as a slot is free), or mark the key free.
   */
  private next(key: string): void {
    const q = this.keyQueues.get(key);
    while (q && q.length) {
      const n = q.shift()!;
      if (n.part.status === 'gone' || n.part.status === 'draining' || this.stopping) continue;
      this.unblocked.push(n);
      return;
    }
    this.keyQueues.delete(key);
  }

  private async execute(e: Entry, attempt: Attempt, freeSlot: () => void): Promise<void> {
    let value: unknown;
    let failure: unknown;
    let ok = false;
    let run: Promise<unknown> | undefined;
    try {
      const task = this.prepare(e, attempt);
      const handler = this.handlers.get(task.type) ?? this.dispatch;
      if (!handler) throw new HwayError('E_UNKNOWN_TYPE', `unknown task type "${task.type}"`, { permanent: true });
      try {
        const r = handler(task);
        run = r instanceof Promise ? r : Promise.resolve(r);
      } catch (err) {
        run = Promise.reject(err);
      }
      const handlerRun = run;
      // Timeouts are enforced by one sweeper timer for all attempts (see sweepTimeouts).
      value = await new Promise<unknown>((resolve, reject) => {
        attempt.onTimeout = () => reject(new HwayError('E_TIMEOUT', `task timed out after ${e.timeoutMs} ms`));
        handlerRun.then(resolve, reject);
      });
      attempt.onTimeout = undefined;
      ok = true;
    } catch (err) {
      attempt.onTimeout = undefined;
      failure = err;
    }
    if (ok) {
      let envelope: string | undefined;
      try {
        envelope = JSON.stringify({ ok: 1, v: (value ?? null) as Json } satisfies Envelope);
      } catch {
        failure = new HwayError('E_INTERNAL', 'task result is not JSON-serialisable', { permanent: true });
      }
      if (envelope !== undefined) {
        const stored = this.complete(e, envelope);
        freeSlot();
        await stored;
        this.counters.completed++;
        return;
      }
    }
    await this.recordFailure(e, failure);
    // A timed-out handler may still be running: keep its key (and slot) until it really stops, so
    // that a key never has two handlers running at once.
    if (run) await run.then(noop, noop);
    freeSlot();
  }

  /**
   * Queue a completion; all completions of one event-loop turn are written together, one
   * complete_many.lua call per partition, in one pipeline.
   */
  private complete(e: Entry, envelope: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const list = this.pendingDone.get(e.part);
      const c = { e, envelope, resolve, reject };
      if (list) list.push(c);
      else this.pendingDone.set(e.part, [c]);
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => this.flushCompletions());
      }
    });
  }

  private flushCompletions(): void {
    this.flushQueued = false;
    const batches = this.pendingDone;
    this.pendingDone = new Map();
    const pipe = this.conn.pipeline();
    const sent: Completion[][] = [];
    for (const [part, all] of batches) {
      for (let i = 0; i < all.length; i += MAX_COMPLETE_BATCH) {
        const list = all.slice(i, i + MAX_COMPLETE_BATCH);
        const p = part.p;
        const keys = this.keys.streams(p) as string[];
        const args: Array<string | number> = [GROUP, this.resultTtlMs];
        for (const c of list) {
          keys.push(this.keys.task(p, c.e.id), this.keys.result(p, c.e.id));
          args.push(c.e.prio + 1, c.e.entryId, c.envelope, c.e.id, c.e.reply);
        }
        pipeScript(pipe, 'complete_many', keys, args);
        sent.push(list);
      }
    }
    pipe.exec().then(
      (res) =>
        sent.forEach((list, i) => {
          const err = res?.[i]?.[0] ?? (res?.[i] ? null : new Error('no reply'));
          for (const c of list) if (err) c.reject(err);
          else c.resolve();
        }),
      (err: unknown) => {
        for (const list of sent) for (const c of list) c.reject(err);
      },
    );
  }

  private sweepTimeouts(): void {
    const now = Date.now();
    for (const a of this.running.values()) {
      if (a.onTimeout && now >= a.deadline) {
        const fire = a.onTimeout;
        a.onTimeout = undefined;
        a.abort(new HwayError('E_TIMEOUT', 'task timed out'));
        fire();
      }
    }
  }

  private prepare(e: Entry, attempt: Attempt): Task {
    if (!e.type) throw new HwayError('E_BAD_PAYLOAD', 'task record has no type', { permanent: true });
    let payload: unknown;
    try {
      payload = e.payloadRaw === null ? null : JSON.parse(e.payloadRaw);
    } catch {
      throw new HwayError('E_BAD_PAYLOAD', 'task payload is not valid JSON', { permanent: true });
    }
    return {
      id: e.id,
      type: e.type,
      payload,
      key: e.key,
      attempt: e.attempt,
      maxRetries: e.maxRetries,
      partition: e.part.p,
      epoch: e.part.epoch,
      priority: PRIORITIES[e.prio]!,
      enqueuedAt: e.enq,
      // created on first use: most handlers never look at it
      get signal() {
        return attempt.signal;
      },
    };
  }

  private async recordFailure(e: Entry, err: unknown): Promise<void> {
    const permanent = isHwayError(err) && err.permanent;
    const code: ErrorCode = isHwayError(err) ? err.code : 'E_TASK_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    const retry = !permanent && e.attempt <= e.maxRetries;
    const envelope = JSON.stringify({ ok: 0, e: { code, message } } satisfies Envelope);
    const delay = retry ? backoffMs(e.attempt, this.retry) : 0;
    const p = e.part.p;
    const next = (await runScript(
      this.conn,
      'fail',
      [this.keys.stream(p, PRIORITIES[e.prio]!), this.keys.task(p, e.id), this.keys.scheduled(p), this.keys.dead(p), this.keys.result(p, e.id)],
      [GROUP, e.entryId, e.id, retry ? 'retry' : 'archive', delay, envelope, this.resultTtlMs, e.reply, e.attempt + 1],
    )) as number;
    if (retry) {
      this.counters.retried++;
      this.log.info('task failed, will retry', { task: e.id, type: e.type ?? '', attempt: e.attempt, code, delayMs: delay });
      if (e.part.status === 'active' || e.part.status === 'claiming') {
        if (!e.part.timer || next <= delay) this.armTimer(e.part, next);
      }
    } else {
      this.counters.archived++;
      this.log.warn('task archived', { task: e.id, type: e.type ?? '', attempt: e.attempt, code, permanent });
    }
  }
}

export function createIngress(opts: IngressOptions): Ingress {
  return new IngressImpl(opts);
}

function noop(): void {}

/** Entry ids are unique per stream only: the three streams of a partition share id space. */
function heldKey(e: Entry): string {
  return `${e.part.p}/${e.prio}/${e.entryId}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout?: () => Error): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout ? onTimeout() : new HwayError('E_TIMEOUT', `timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

