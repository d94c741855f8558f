// Writes the outcomes of attempts: results (batched per event-loop turn: one complete_many.lua call
// for the turn's results of every partition on one Redis, one per partition on a cluster) and
// failures (a retry, or a dead letter).
// Invariant: an entry is acknowledged only by the same script that stores its outcome, so an
// acknowledged entry always has its outcome and a stored outcome never leaves its entry pending.
import { isHwayError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { DeadLetterRetention, Finished, QueueStore } from '../../storage/queue-store.js';
import type { Entry } from './held.js';
import type { Part } from './partitions.js';
import { backoffMs, type RetryPolicy } from './retry.js';
import type { Envelope } from './task.js';
import { signOutcome } from '../credential.js';

interface Completion {
  done: Finished;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface OutcomeCounters {
  completed: number;
  retried: number;
  archived: number;
}

export class OutcomeWriter {
  private pending = new Map<Part, Completion[]>();
  private flushQueued = false;

  constructor(
    private readonly store: QueueStore,
    private readonly resultTtlMs: number,
    private readonly retention: DeadLetterRetention,
    private readonly retry: RetryPolicy,
    private readonly counters: OutcomeCounters,
    private readonly log: Logger,
    /** A retry was scheduled in `delayMs`; the earliest scheduled task of the partition is due in `nextInMs`. */
    private readonly scheduled: (part: Part, nextInMs: number, delayMs: number) => void,
  ) {}

  /** Store a successful outcome; resolves once it is stored (with every other one of this turn). */
  complete(e: Entry, envelope: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const c: Completion = { done: { lane: e.lane, entryId: e.entryId, id: e.id, reply: e.reply, envelope }, resolve, reject };
      const list = this.pending.get(e.part);
      if (list) list.push(c);
      else this.pending.set(e.part, [c]);
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushQueued = false;
    const batches = [...this.pending];
    this.pending = new Map();
    this.store
      .complete(
        batches.map(([part, list]) => ({ p: part.p, done: list.map((c) => c.done) })),
        this.resultTtlMs,
      )
      .then(
        (errors) =>
          batches.forEach(([, list], i) => {
            const err = errors[i];
            for (const c of list) if (err) c.reject(err);
            else {
              this.counters.completed++;
              c.resolve();
            }
          }),
        (err: unknown) => {
          for (const [, list] of batches) for (const c of list) c.reject(err);
        },
      );
  }

  /** A failed attempt: a transient error is retried after a backoff while retries last; else archived. */
  /** `requestKey`: the verified request's, under which its outcome is authenticated. */
  async fail(e: Entry, err: unknown, requestKey?: Uint8Array): Promise<void> {
    const permanent = isHwayError(err) && err.permanent;
    const code: ErrorCode = isHwayError(err) ? err.code : 'E_TASK_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    const retry = !permanent && e.attempt <= e.maxRetries;
    const plain = JSON.stringify({ ok: 0, e: { code, message } } satisfies Envelope);
    const envelope = requestKey === undefined ? plain : signOutcome(requestKey, e.id, plain);
    const delayMs = retry ? backoffMs(e.attempt, this.retry) : 0;
    const next = await this.store.fail(e.part.p, e, { retry, delayMs, envelope, resultTtlMs: this.resultTtlMs, retention: this.retention });
    if (retry) {
      this.counters.retried++;
      this.log.info('task failed, will retry', { task: e.id, type: e.type ?? '', attempt: e.attempt, code, delayMs });
      this.scheduled(e.part, next, delayMs);
    } else {
      this.counters.archived++;
      this.log.warn('task archived', { task: e.id, type: e.type ?? '', attempt: e.attempt, code, permanent });
    }
  }
}
