// Picks the next tasks to run from the lane buffers (weighted by priority) and runs them.
// Invariant: at most `concurrency` handlers run at once, and a key's tasks start one at a time in
// the order they were read, the next only after the previous one's outcome is stored.
import type { Logger } from '../../log.js';
import type { Executor } from './executor.js';
import type { Entry, HeldTasks } from './held.js';
import { serving, type PartitionTable } from './partitions.js';
import type { Lane, PriorityScheduler } from './scheduler.js';

export class Dispatcher {
  /** Keys with a task running; the array holds that key's next tasks in order. */
  private readonly keyQueues = new Map<string, Entry[]>();
  /** Tasks whose key was just handed to them: they run before new picks. */
  private unblocked: Entry[] = [];
  private readonly runningEntries = new Set<Entry>();
  private readonly laneState: Lane[] = [0, 1, 2].map(() => ({ ready: false, maybeMore: false }));
  /** Handlers running (holding a concurrency slot). */
  active = 0;
  /** Tasks whose handler is done and whose outcome is being written, having given their slot back. */
  private finishing = 0;
  private pumping = false;
  stopping = false;
  started = false;

  constructor(
    private readonly concurrency: number,
    private readonly maxHeld: number,
    private readonly held: HeldTasks,
    private readonly table: PartitionTable,
    private readonly sched: PriorityScheduler,
    private readonly executor: Executor,
    private readonly log: Logger,
    /** After each pump: the reader refills the buffers if they run low. */
    private readonly refill: () => void,
  ) {}

  /** Tasks whose handler runs or whose outcome is being written. */
  get inFlight(): number {
    return this.runningEntries.size;
  }

  isRunning(e: Entry): boolean {
    return this.runningEntries.has(e);
  }

  /** Forget the waiting tasks of a partition given up (they stay pending in Redis). */
  purge(part: Entry['part']): void {
    for (const [key, q] of this.keyQueues) {
      if (q.length && q.some((e) => e.part === part)) this.keyQueues.set(key, q.filter((e) => e.part !== part));
    }
    this.held.purge(part, (e) => this.runningEntries.has(e));
  }

  private lanes(): Lane[] {
    const canFetch = this.held.beyondBuffers() < this.maxHeld;
    for (let i = 0; i < 3; i++) {
      const l = this.laneState[i]!;
      l.ready = this.held.buffers[i]!.length > 0;
      l.maybeMore = canFetch && this.table.openLanes(i) > 0;
    }
    return this.laneState;
  }

  pump(): void {
    if (this.pumping || !this.started) return;
    this.pumping = true;
    try {
      while (!this.stopping && this.active < this.concurrency && this.unblocked.length) {
        const e = this.unblocked.shift()!;
        if (!serving(e.part)) this.next(e.key);
        else void this.run(e);
      }
      while (!this.stopping && this.active < this.concurrency) {
        const i = this.sched.pick(this.lanes());
        if (i < 0) break;
        const e = this.held.buffers[i]!.shift()!;
        if (!serving(e.part)) continue;
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
    this.refill();
  }

  private async run(e: Entry): Promise<void> {
    this.active++;
    e.part.inflight++;
    this.runningEntries.add(e);
    let slotFree = false;
    // The concurrency slot bounds running handlers; it is given back as soon as the handler is done,
    // while its outcome is being written — up to maxFinishing such tasks (half of maxHeld), so that
    // handlers never run far ahead of Redis and read-ahead stays possible. The key stays taken until
    // the outcome is stored, so the key's next task still starts only after that.
    let finishing = false;
    const maxFinishing = Math.max(this.concurrency, Math.floor(this.maxHeld / 2));
    const freeSlot = () => {
      if (slotFree || this.finishing >= maxFinishing) return;
      slotFree = true;
      finishing = true;
      this.finishing++;
      this.active--;
      this.pump();
    };
    try {
      await this.executor.run(e, freeSlot);
    } catch (err) {
      // Only a failure to record the outcome gets here; the entry stays pending and is claimed again.
      this.log.error('could not record task outcome', { task: e.id, partition: e.part.p, error: String(err) });
    } finally {
      this.runningEntries.delete(e);
      this.held.release(e);
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
      if (!serving(n.part) || this.stopping) continue;
      this.unblocked.push(n);
      return;
    }
    this.keyQueues.delete(key);
  }
}
