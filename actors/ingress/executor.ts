// Runs one attempt of a task: finds its handler, builds the Task it sees, enforces its timeout, and
// hands the outcome to the OutcomeWriter. Invariant: an attempt ends exactly once (a value, an
// error or a timeout), and its key stays taken until a timed-out handler has really returned.
import { HwayError, isHwayError, type ErrorCode } from '../../errors.js';
import { signOutcome } from '../credential.js';
import type { Entry } from './held.js';
import { PRIORITIES } from './keys.js';
import type { OutcomeWriter } from './outcomes.js';
import type { Envelope, Handler, Json, Task, TaskAuth } from './task.js';

/** A task's request, verified: who asked, and the key its outcome is authenticated under. */
export interface Verified {
  auth: TaskAuth;
  requestKey: Uint8Array;
}

/**
 * Checks a task's credential and request MAC before it runs (nodes with auth on): resolves to who
 * asked, or rejects (E_UNAUTHORIZED, permanent). Without one, tasks run unauthenticated.
 */
export type Authenticator = (e: Entry) => Promise<Verified>;

/**
 * One attempt as metrics see it (actors/http/metrics.ts): no payload, key or account, only what a
 * bounded label or a latency can be made of. Times are ms since the epoch; `enqueuedAt` is Redis's clock.
 */
export interface TaskObservation {
  type: string;
  /** A handler is registered for `type` (else the type is whatever a producer wrote: unbounded). */
  registered: boolean;
  /** 'ok', or the code the attempt failed with (what the producer is told). */
  outcome: 'ok' | ErrorCode;
  attempt: number;
  enqueuedAt: number;
  startedAt: number;
  /** When the handler settled (or failed before it ran), before the outcome is written. */
  endedAt: number;
}

/** Told about every attempt that ends; must not throw (a throw is ignored). */
export type TaskObserver = (o: TaskObservation) => void;

const TIMEOUT_SWEEP_MS = 20;

/** One run of a task: its deadline, and an abort signal made only if the handler asks for it. */
export class Attempt {
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

export class Executor {
  readonly running = new Set<Attempt>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly handlers: Map<string, Handler>,
    private readonly dispatch: Handler | undefined,
    private readonly outcomes: OutcomeWriter,
    private readonly authenticate?: Authenticator,
    private readonly observe?: TaskObserver,
  ) {}

  /** Timeouts of all attempts are enforced by one timer, not one per task. */
  start(): void {
    this.sweeper = setInterval(() => this.sweepTimeouts(), TIMEOUT_SWEEP_MS);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Abort every running attempt (shutdown): their entries stay pending and are delivered again. */
  abortAll(reason: Error): void {
    for (const a of this.running) a.abort(reason);
  }

  /**
   * Run `e` to its stored outcome. `freeSlot` is called once the handler is done, so that the
   * concurrency slot can be given back while the outcome is being written. Rejects only if the
   * outcome could not be recorded (the entry then stays pending and is claimed again).
   */
  async run(e: Entry, freeSlot: () => void): Promise<void> {
    const attempt = new Attempt(Date.now() + e.timeoutMs);
    this.running.add(attempt);
    try {
      await this.execute(e, attempt, freeSlot);
    } finally {
      this.running.delete(attempt);
    }
  }

  private async execute(e: Entry, attempt: Attempt, freeSlot: () => void): Promise<void> {
    const startedAt = Date.now();
    let value: unknown;
    let failure: unknown;
    let ok = false;
    let run: Promise<unknown> | undefined;
    let verified: Verified | undefined;
    try {
      if (this.authenticate) verified = await this.authenticate(e);
      const task = this.prepare(e, attempt, verified?.auth);
      const handler = this.handlers.get(task.type) ?? this.dispatch;
      if (!handler) throw new HwayError('E_UNKNOWN_TYPE', `unknown task type "${task.type}"`, { permanent: true });
      try {
        const r = handler(task);
        run = r instanceof Promise ? r : Promise.resolve(r);
      } catch (err) {
        run = Promise.reject(err);
      }
      const handlerRun = run;
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
    const endedAt = Date.now();
    if (ok) {
      let envelope: string | undefined;
      try {
        envelope = JSON.stringify({ ok: 1, v: (value ?? null) as Json } satisfies Envelope);
      } catch {
        failure = new HwayError('E_INTERNAL', 'task result is not JSON-serialisable', { permanent: true });
      }
      if (envelope !== undefined) {
        if (verified) envelope = signOutcome(verified.requestKey, e.id, envelope);
        this.report(e, 'ok', startedAt, endedAt);
        const stored = this.outcomes.complete(e, envelope);
        freeSlot();
        await stored;
        return;
      }
    }
    // The code outcomes.ts stores for this failure.
    this.report(e, isHwayError(failure) ? failure.code : 'E_TASK_FAILED', startedAt, endedAt);
    await this.outcomes.fail(e, failure, verified?.requestKey);
    // A timed-out handler may still be running: keep its key (and slot) until it really stops, so
    // that a key never has two handlers running at once.
    if (run) await run.then(noop, noop);
    freeSlot();
  }

  private report(e: Entry, outcome: TaskObservation['outcome'], startedAt: number, endedAt: number): void {
    if (!this.observe) return;
    const type = e.type ?? '';
    try {
      this.observe({ type, registered: this.handlers.has(type), outcome, attempt: e.attempt, enqueuedAt: e.enqueuedAt, startedAt, endedAt });
    } catch {
      // metrics must never change how a task ends
    }
  }

  private sweepTimeouts(): void {
    const now = Date.now();
    for (const a of this.running) {
      if (a.onTimeout && now >= a.deadline) {
        const fire = a.onTimeout;
        a.onTimeout = undefined;
        a.abort(new HwayError('E_TIMEOUT', 'task timed out'));
        fire();
      }
    }
  }

  private prepare(e: Entry, attempt: Attempt, auth: TaskAuth | undefined): Task {
    if (!e.type) throw new HwayError('E_BAD_PAYLOAD', 'task record has no type', { permanent: true });
    let payload: unknown;
    try {
      payload = e.payload === null ? null : JSON.parse(e.payload);
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
      priority: PRIORITIES[e.lane]!,
      enqueuedAt: e.enqueuedAt,
      ...(auth === undefined ? {} : { auth }),
      // created on first use: most handlers never look at it
      get signal() {
        return attempt.signal;
      },
    };
  }
}

function noop(): void {}
