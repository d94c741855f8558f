// Moves due scheduled tasks (delayed enqueues and retries) of the served partitions into their
// streams. Invariant: a served partition with scheduled tasks has exactly one timer armed, for its
// earliest due task (Redis's clock), and at most one promotion of it runs at a time.
import type { Logger } from '../../log.js';
import type { QueueStore } from '../../storage/queue-store.js';
import { serving, type Part } from './partitions.js';

const PROMOTE_BATCH = 500;

export class Promoter {
  private readonly timers = new Map<Part, NodeJS.Timeout>();
  private readonly running = new Set<Part>();
  stopping = false;

  constructor(
    private readonly store: QueueStore,
    private readonly log: Logger,
    /** Called when tasks were moved into a partition's streams. */
    private readonly moved: (part: Part) => void,
  ) {}

  hasTimer(part: Part): boolean {
    return this.timers.has(part);
  }

  async promote(part: Part): Promise<void> {
    if (this.running.has(part) || !serving(part) || this.stopping) return;
    this.running.add(part);
    try {
      for (;;) {
        const { moved, nextInMs } = await this.store.promote(part.p, PROMOTE_BATCH);
        if (moved > 0) this.moved(part);
        if (moved >= PROMOTE_BATCH) continue;
        this.arm(part, nextInMs);
        break;
      }
    } catch (e) {
      this.log.warn('promote failed', { partition: part.p, error: String(e) });
    } finally {
      this.running.delete(part);
    }
  }

  /** Promote `part` in `inMs` (replacing its timer); -1: nothing is scheduled. */
  arm(part: Part, inMs: number): void {
    this.cancel(part);
    if (inMs < 0 || !serving(part)) return;
    // +1: Redis' clock must have passed the due time when the script runs
    const t = setTimeout(() => {
      this.timers.delete(part);
      void this.promote(part);
    }, inMs + 1);
    this.timers.set(part, t);
  }

  /** A retry was scheduled in `inMs`: make sure the timer fires no later. */
  armBy(part: Part, inMs: number, retryInMs: number): void {
    if (!serving(part)) return;
    if (!this.timers.has(part) || inMs <= retryInMs) this.arm(part, inMs);
  }

  cancel(part: Part): void {
    const t = this.timers.get(part);
    if (t) clearTimeout(t);
    this.timers.delete(part);
  }
}
