// Types at the boundary between producers, the ingress and task handlers.
import type { ErrorCode } from '../../errors.js';
import type { Credential } from '../credential.js';
import type { Perm } from '../gateway/tokens.js';
import type { Priority } from './keys.js';

export type { Priority } from './keys.js';

/** JSON value: payloads and results travel as JSON. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface EnqueueOptions {
  /**
   * How long the request stays valid (ms from now, or from its run time when delayed): its retries
   * run within it, and a copy of it is refused after. Default: the client's (1 h). Capped by the
   * token's own expiry.
   */
  requestTtlMs?: number;
  /** Task id; enqueuing an id that already exists returns it without creating a second task. */
  id?: string;
  /** Ordering/partition key (vault id, address). Tasks of one key run one at a time, in order. Default: the task id. */
  key?: string;
  priority?: Priority;
  /** Retries after the first attempt for transient failures. Default 3. */
  maxRetries?: number;
  /** Per-attempt handler timeout (ms). Default: the node's (30 s). */
  timeoutMs?: number;
  /** Run no earlier than this many ms from now (Redis clock). */
  delayMs?: number;
  /** Run no earlier than this time (ms since epoch, or a Date). */
  runAt?: number | Date;
}

export interface CallOptions extends EnqueueOptions {
  /** Act with this credential instead of the client's own (the node's signers act for a producer). */
  credential?: Credential;
  /** Client-side wait for the result (ms); the task itself keeps going. Default: the client's (30 s). */
  callTimeoutMs?: number;
}

/** What a handler receives. */
export interface Task<P = unknown> {
  id: string;
  type: string;
  payload: P;
  key: string;
  /** 1 for the first attempt; a redelivery after a crash keeps its attempt number. */
  attempt: number;
  maxRetries: number;
  partition: number;
  /** Fencing epoch of the partition lease under which this attempt runs. */
  epoch: number;
  priority: Priority;
  enqueuedAt: number;
  /** Aborted when the attempt times out or the node shuts down past its grace period. */
  signal: AbortSignal;
  /** Who asked, when the node has auth on: set only after the request's MAC was verified. */
  auth?: TaskAuth;
}

/** The verified credential of a task. */
export interface TaskAuth {
  account: string;
  perm: Perm;
  jti: string;
  /** Opens a secret (a password) the producer sealed for this task (actors/credential.ts). */
  openSecret(box: string): string;
}

export type Handler<P = unknown, R = unknown> = (task: Task<P>) => Promise<R> | R;

/** Terminal outcome of a task, as stored under its id and published to its producer. */
export type TaskOutcome =
  | { ok: true; value: Json }
  | { ok: false; error: { code: ErrorCode; message: string } };

export type TaskState = 'scheduled' | 'pending' | 'active' | 'retry' | 'completed' | 'archived';

/** Stored envelope (compact on the wire). */
export type Envelope = { ok: 1; v: Json } | { ok: 0; e: { code: ErrorCode; message: string } };

export function toOutcome(env: Envelope): TaskOutcome {
  return env.ok === 1 ? { ok: true, value: env.v } : { ok: false, error: env.e };
}

export const TASK_ID_RE = /^[\x21-\x7e]{1,200}$/;
