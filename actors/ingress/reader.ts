// Reads entries of the served partitions from Redis into the lane buffers: fetch rounds for new
// entries, claims for pending ones (on taking a partition over, after a reconnect, and a slow sweep).
// Invariant: reading stops while maxHeld tasks are held beyond the buffers, and at most MAX_FETCHES
// rounds are on the wire; every delivered entry is loaded (load.lua) before it is buffered.
import type { Logger } from '../../log.js';
import type { Delivered, FetchAsk, QueueStore } from '../../storage/queue-store.js';
import type { Entry, HeldTasks } from './held.js';
import type { Part, PartitionTable } from './partitions.js';

const CLAIM_BATCH = 200;
const FETCH_FANOUT = 16;
const MAX_FETCHES = 2;
const MIN_PER_FETCH = 16;

export interface ReaderOptions {
  bufTarget: number;
  maxHeld: number;
  defaultTimeoutMs: number;
  staleMs: number;
}

export interface ReadCounters {
  answeredFromStore: number;
  dropped: number;
}

export class Reader {
  /** Partitions woken since the last fetch round: read first. */
  readonly hot = new Set<Part>();
  private fetching = 0;
  private backingOff = false;
  private backoffUntil = 0;
  private cursor = 0;
  stopping = false;

  constructor(
    private readonly store: QueueStore,
    private readonly table: PartitionTable,
    private readonly held: HeldTasks,
    private readonly o: ReaderOptions,
    private readonly counters: ReadCounters,
    private readonly log: Logger,
    /** Called when entries may have arrived: the dispatcher picks them up. */
    private readonly pump: () => void,
  ) {}

  /** Whether the buffers are worth refilling: room beyond them, and an open lane running low. */
  private needsRefill(): boolean {
    if (this.held.beyondBuffers() >= this.o.maxHeld) return false;
    const low = this.o.bufTarget / 2;
    for (let i = 0; i < 3; i++) if (this.table.openLanes(i) > 0 && this.held.buffers[i]!.length < low) return true;
    return false;
  }

  /** Start a fetch round if one is useful and allowed. */
  async refill(): Promise<void> {
    if (this.fetching >= MAX_FETCHES || this.backingOff || this.stopping || !this.needsRefill()) return;
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) {
      this.backingOff = true;
      setTimeout(() => {
        this.backingOff = false;
        this.pump();
      }, wait);
      return;
    }
    const lanes = this.held.needs(this.o.bufTarget);
    // A partition already being read is left to that round.
    const isOpen = (part: Part) => part.status === 'active' && !part.reading && lanes.some((need, i) => need > 0 && !part.exhausted[i]);
    const open: Part[] = [];
    for (const part of this.table.all()) if (isOpen(part)) open.push(part);
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
    const start = this.cursor++ % open.length;
    for (let j = 0; j < open.length && chosen.length < n; j++) {
      const part = open[(start + j) % open.length]!;
      if (!chosen.includes(part)) chosen.push(part);
    }
    this.fetching++;
    for (const part of chosen) part.reading = true;
    try {
      await this.fetchFrom(
        chosen,
        lanes.map((need) => Math.ceil(need / chosen.length)),
        wasHot,
      );
    } finally {
      this.fetching--;
      for (const part of chosen) part.reading = false;
    }
    this.pump();
  }

  /**
   * One round of fetch-5.lua over `chosen`, asking `perLane[i]` entries of each lane that has room,
   * then one load.lua per partition for what was delivered. A full lane is asked for nothing, except
   * for one entry when the partition believes it exhausted: a partition can then only look exhausted
   * in all three lanes after a fetch that read all three, which is when fetch-5.lua arms its idle flag.
   */
  async fetchFrom(chosen: Part[], perLane: number[], wasHot?: Set<Part>): Promise<void> {
    const lanes = this.held.needs(this.o.bufTarget);
    try {
      // The wake-up channel is another connection: its message can overtake this fetch's reply.
      const seqs = chosen.map((part) => part.wakeSeq);
      const asks = chosen.map(
        (part): FetchAsk => ({
          p: part.p,
          epoch: part.epoch,
          counts: lanes.map((need, i) => (need > 0 ? Math.max(1, perLane[i]!) : part.exhausted[i] ? 1 : 0)) as [number, number, number],
          exhausted: part.exhausted,
        }),
      );
      const res = await this.store.fetch(asks);
      let failed = false;
      const toLoad: Array<{ part: Part; delivered: Delivered[] }> = [];
      const lanesRead: Array<() => void> = [];
      chosen.forEach((part, j) => {
        const r = res[j] ?? new Error('no reply');
        if (r instanceof Error) {
          failed = true;
          this.log.warn('fetch failed', { partition: part.p, error: String(r) });
          return;
        }
        // Entries delivered to a partition we no longer serve stay pending for the next owner.
        if (part.status !== 'active') return;
        if (r.delivered.length) toLoad.push({ part, delivered: r.delivered });
        // What the fetch learnt about the lanes is applied once its entries are buffered: a lane
        // marked exhausted while its last entries are still loading would let the scheduler pass it by.
        lanesRead.push(() => {
          if (part.status !== 'active') return;
          const woken = part.wakeSeq !== seqs[j];
          for (let i = 0; i < 3; i++) if (r.readMask & (1 << i)) this.table.setExhausted(part, i, !woken && (r.shortMask & (1 << i)) !== 0);
          // A woken partition that filled its share may hold more: it stays first in line rather
          // than waiting for its turn in the rotation.
          if (wasHot?.has(part) && (r.readMask & ~r.shortMask & 7) !== 0) this.hot.add(part);
        });
      });
      if (!(await this.load(toLoad, (part) => part.status === 'active'))) failed = true;
      for (const apply of lanesRead) apply();
      if (failed) this.backoffUntil = Date.now() + 200;
    } catch (e) {
      this.log.warn('fetch round failed', { error: String(e) });
      this.backoffUntil = Date.now() + 200;
    }
  }

  /**
   * Load delivered entries and buffer their tasks (those of partitions still served, per `still`).
   * An entry whose load failed stays pending in this node's name; a claim picks it up again.
   */
  private async load(groups: Array<{ part: Part; delivered: Delivered[] }>, still: (part: Part) => boolean): Promise<boolean> {
    if (groups.length === 0) return true;
    const res = await this.store.load(groups.map((g) => ({ p: g.part.p, delivered: g.delivered })));
    let ok = true;
    groups.forEach(({ part }, j) => {
      const r = res[j] ?? new Error('no reply');
      if (r instanceof Error) {
        ok = false;
        this.log.warn('load failed', { partition: part.p, error: String(r) });
        return;
      }
      this.counters.answeredFromStore += r.answered;
      for (const entry of r.dropped) {
        this.counters.dropped++;
        this.log.warn('dropped unusable stream entry', { partition: part.p, entry });
      }
      if (!still(part)) return;
      for (const t of r.tasks) {
        const e: Entry = Object.assign(t, { part, key: t.key ?? t.id, timeoutMs: t.timeoutMs || this.o.defaultTimeoutMs });
        this.held.accept(e);
      }
    });
    return ok;
  }

  /** Claim every pending entry of a partition just taken over (or reconnected), then serve it normally. */
  async claim(part: Part): Promise<void> {
    try {
      await this.claimFrom(part, 0, () => part.status === 'claiming');
      this.table.activate(part);
    } catch (e) {
      this.log.warn('claim failed, retrying', { partition: part.p, error: String(e) });
      await new Promise((r) => setTimeout(r, 200));
      if (part.status === 'claiming' && !this.stopping) return this.claim(part);
    } finally {
      this.pump();
    }
  }

  /** XAUTOCLAIM every pending entry idle for minIdleMs into the buffers (skipping those held here). */
  private async claimFrom(part: Part, minIdleMs: number, still: () => boolean): Promise<void> {
    for (const lane of [0, 1, 2] as const) {
      let cursor = '0-0';
      do {
        if (!still()) return;
        const page = await this.store.claim(part.p, part.epoch, lane, cursor, CLAIM_BATCH, minIdleMs);
        cursor = page.next;
        // Entries running or buffered here are not loaded again (that would mark them active twice).
        const fresh = page.delivered.filter((d) => d.id === null || !this.held.has(part, d.lane, d.entryId));
        if (!still()) return;
        if (!(await this.load([{ part, delivered: fresh }], still))) throw new Error('load of claimed entries failed');
      } while (cursor !== '0-0');
    }
  }

  /**
   * Entries whose outcome could not be written (a script error, not a disconnect: those are queued)
   * stay pending; this sweep hands them to the node again after staleMs.
   */
  sweepStale(parts: Part[]): void {
    for (const part of parts) {
      if (part.status !== 'active') continue;
      void this.claimFrom(part, this.o.staleMs, () => part.status === 'active' && !this.stopping)
        .then(() => this.pump())
        .catch((e: unknown) => this.log.warn('stale sweep failed', { partition: part.p, error: String(e) }));
    }
  }

  /** Probe partitions believed exhausted in every lane (a wake-up may have been lost). */
  probe(parts: Part[]): void {
    if (parts.length === 0 || this.held.beyondBuffers() >= this.o.maxHeld) return;
    void this.fetchFrom(parts, [1, 1, 1]).then(() => this.pump());
  }
}

