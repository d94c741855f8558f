// The producer: enqueues tasks into the partition streams and waits for replies on its own channel.
// It fails fast when Redis is away (E_REDIS_UNAVAILABLE) instead of queueing commands silently; an
// enqueue that failed that way may or may not have landed, so retry it with the same task id.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseCredential, signTask } from '../credential.js';
import { decodeOutcome, signerOf, type Signer } from './request-auth.js';
import { HwayError, type ErrorCode } from '../../errors.js';
import { logger as makeLogger, type Logger } from '../../log.js';
import { defineScripts, type Durability } from '../../storage/scripts.js';
import { QueueStore, type EnqueueReply, type NewTask } from '../../storage/queue-store.js';
import { Keys, PRIORITIES, type Priority } from './keys.js';
import { DEFAULT_PARTITIONS, partitionOf } from './partition.js';
import { backoff, closeConnection, connect, isConnectionError, unavailable, whenReady, subscribeWhenReady, type RedisSource } from '../../storage/redis.js';
import { DEFAULT_MAX_RETRIES } from './retry.js';
import { TASK_ID_RE, type CallOptions, type EnqueueOptions, type TaskOutcome } from './task.js';

export interface IngressClientOptions {
  redis?: RedisSource;
  prefix?: string;
  /** Must match the nodes' partition count. Default 64. */
  partitions?: number;
  /** Names the reply channel. Default: random. */
  clientId?: string;
  /** Default client-side wait of call(). Default 30 s. */
  callTimeoutMs?: number;
  /** How long a command waits for a (re)connection before failing with E_REDIS_UNAVAILABLE. Default 1000. */
  unavailableAfterMs?: number;
  /** Per-command timeout. Default 2000. */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Enqueues wait for this many replicas (WAIT) before they resolve; off by default (see the ingress README). */
  durability?: Durability;
  /**
   * Credential of the producer's account (`hway token issue`; env HWAY_TOKEN in the CLI), when the
   * nodes have auth on. Each task then carries a MAC under its request key, and each outcome must
   * carry the node's MAC under it: a forged or swapped one is refused with E_FORGED_OUTCOME.
   */
  token?: string;
  /** Default lifetime of a request (ms); see EnqueueOptions.requestTtlMs. Default 1 h. */
  requestTtlMs?: number;
}

export interface EnqueueItem {
  type: string;
  payload: unknown;
  opts?: EnqueueOptions;
}

interface Waiter {
  resolve: (o: TaskOutcome) => void;
  timer: NodeJS.Timeout | undefined;
  p: number;
  /** The request key its outcome must be authenticated under (none without auth). */
  rk: Uint8Array | undefined;
}

interface Submitted {
  t: Prepared;
  resolve: (r: EnqueueReply) => void;
  reject: (e: unknown) => void;
}

interface Prepared {
  p: number;
  task: NewTask;
  rk: Uint8Array | undefined;
}

export class IngressClient {
  readonly clientId: string;
  private readonly keys: Keys;
  private readonly P: number;
  private readonly conn: Redis;
  private readonly store: QueueStore;
  private sub: Redis | undefined;
  private subReady: Promise<void> | undefined;
  private readonly waiters = new Map<string, Waiter[]>();
  /** Partition of tasks this client enqueued, so that result(id) need not search (bounded). */
  private readonly known = new Map<string, number>();
  private readonly callTimeoutMs: number;
  private readonly unavailableAfterMs: number;
  private readonly log: Logger;
  private readonly src: RedisSource;
  private closed = false;
  private pending: Submitted[] | undefined;
  private readonly signer: Signer | undefined;
  private readonly requestTtlMs: number;

  constructor(opts: IngressClientOptions = {}) {
    this.clientId = opts.clientId ?? randomUUID();
    this.keys = new Keys(opts.prefix ?? 'hway');
    this.P = opts.partitions ?? DEFAULT_PARTITIONS;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.unavailableAfterMs = opts.unavailableAfterMs ?? 1000;
    this.log = opts.logger ?? makeLogger('client', { client: this.clientId });
    this.src = opts.redis ?? 'redis://127.0.0.1:6379';
    this.signer = opts.token === undefined || opts.token === '' ? undefined : signerOf(parseCredential(opts.token));
    this.requestTtlMs = opts.requestTtlMs ?? 3_600_000;
    const commandTimeout = opts.commandTimeoutMs ?? 2000;
    this.conn = connect(this.src, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: Math.max(commandTimeout, 1000),
      commandTimeout,
      // Not auto-pipelined: a lone enqueue goes out at once; enqueueMany pipelines explicitly.
      enableAutoPipelining: false,
      retryStrategy: backoff,
      lazyConnect: false,
      // ioredis keeps a timer this long after disconnecting a socket that never connected
      disconnectTimeout: 200,
    });
    this.conn.on('error', (e: Error) => this.log.debug('redis error', { error: e.message }));
    defineScripts(this.conn);
    this.store = new QueueStore(this.conn, this.keys, '', opts.durability);
  }

  /** Enqueue a task; resolves to its id (the existing one when the id was already enqueued). */
  async enqueue(type: string, payload: unknown, opts: EnqueueOptions = {}): Promise<string> {
    const t = this.prepare(type, payload, opts, '');
    await this.exec(() => this.submit(t));
    return t.task.id;
  }

  /**
   * Enqueue many tasks: one script call per partition per chunk, all chunks' calls pipelined.
   * Resolves to their ids in order. Tasks of one key keep their order.
   */
  async enqueueMany(items: EnqueueItem[], chunk = 1000): Promise<string[]> {
    const prepared = items.map((it) => this.prepare(it.type, it.payload, it.opts ?? {}, ''));
    for (let i = 0; i < prepared.length; i += chunk) {
      const byPart = new Map<number, Prepared[]>();
      for (const t of prepared.slice(i, i + chunk)) {
        const list = byPart.get(t.p);
        if (list) list.push(t);
        else byPart.set(t.p, [t]);
      }
      const res = await this.exec(() => this.store.enqueueGroups([...byPart].map(([p, list]) => ({ p, tasks: list.map((t) => t.task) }))));
      for (const r of res) if (r instanceof Error) throw this.mapError(r);
    }
    return prepared.map((t) => t.task.id);
  }

  /** Enqueue and wait for the outcome: the handler's value, or its terminal error as an HwayError. */
  async call<T = unknown>(type: string, payload: unknown, opts: CallOptions = {}): Promise<T> {
    await this.ensureSubscribed();
    const prepared = this.prepare(type, payload, opts, this.keys.replyChannel(this.clientId));
    const { p, task, rk } = prepared;
    const id = task.id;
    const timeoutMs = opts.callTimeoutMs ?? this.callTimeoutMs;
    const outcome = new Promise<TaskOutcome | undefined>((resolve) => {
      const w: Waiter = { resolve, timer: undefined, p, rk };
      w.timer = setTimeout(() => {
        this.removeWaiter(id, w);
        // The reply may have been published while we were disconnected: look once more.
        this.resultWith(id, { partition: p }, rk).then(
          (o) => resolve(o ?? undefined),
          () => resolve(undefined),
        );
      }, timeoutMs);
      const list = this.waiters.get(id);
      if (list) list.push(w);
      else this.waiters.set(id, [w]);
    });
    let created: boolean;
    try {
      ({ created } = await this.exec(() => this.submit(prepared)));
    } catch (e) {
      this.settle(id, undefined);
      throw e;
    }
    if (!created) {
      // An existing task: it may be done already, or reply to another producer's channel.
      void this.pollExisting(id, p, rk);
    }
    const o = await outcome;
    if (!o) throw new HwayError('E_TIMEOUT', `no result for task ${id} within ${timeoutMs} ms`);
    if (o.ok) return o.value as T;
    throw new HwayError(o.error.code, o.error.message, { permanent: true });
  }

  /**
   * The stored outcome of a task, or null if there is none (not finished, unknown, or expired).
   * Pass the task's key (or partition) when it was enqueued by another client with a key; otherwise
   * all partitions are searched in one round trip.
   */
  async result(taskId: string, where: { key?: string; partition?: number } = {}): Promise<TaskOutcome | null> {
    return this.resultWith(taskId, where, this.signer?.cred.requestKey);
  }

  private async resultWith(taskId: string, where: { key?: string; partition?: number }, rk: Uint8Array | undefined): Promise<TaskOutcome | null> {
    const p = where.partition ?? (where.key !== undefined ? partitionOf(where.key, this.P) : this.known.get(taskId));
    const candidates = p !== undefined ? [p] : [partitionOf(taskId, this.P), ...Array.from({ length: this.P }, (_, i) => i)];
    const raws = await this.exec(() => this.store.results(taskId, candidates));
    const raw = raws.find((r) => r !== null && r !== undefined);
    if (!raw) return null;
    return decodeOutcome(taskId, raw, rk);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id] of this.waiters) this.settle(id, undefined);
    const conns = [this.conn, this.sub].filter((c): c is Redis => c !== undefined);
    await Promise.all(conns.map((c) => closeConnection(c)));
  }

  // ---- internals ----

  private prepare(type: string, payload: unknown, opts: CallOptions, reply: string): Prepared {
    if (this.closed) throw new HwayError('E_CLOSED', 'client is closed');
    if (typeof type !== 'string' || type.length === 0 || type.length > 200) throw new HwayError('E_BAD_INPUT', 'task type must be a non-empty string', { permanent: true });
    const id = opts.id ?? randomUUID();
    if (!TASK_ID_RE.test(id)) throw new HwayError('E_BAD_INPUT', 'task id must be 1-200 printable ASCII characters without spaces', { permanent: true });
    const key = opts.key ?? id;
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) throw new HwayError('E_BAD_INPUT', 'task key must be a non-empty string', { permanent: true });
    const prio: Priority = opts.priority ?? 'default';
    if (!PRIORITIES.includes(prio)) throw new HwayError('E_BAD_INPUT', `unknown priority "${String(prio)}"`, { permanent: true });
    const maxRetries = opts.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new HwayError('E_BAD_INPUT', 'maxRetries must be a non-negative integer', { permanent: true });
    const timeoutMs = opts.timeoutMs ?? 0;
    if (!(timeoutMs >= 0)) throw new HwayError('E_BAD_INPUT', 'timeoutMs must be >= 0', { permanent: true });
    let delay = opts.delayMs ?? 0;
    if (opts.runAt !== undefined) delay = Math.max(delay, +opts.runAt - Date.now());
    delay = Math.max(0, Math.ceil(delay));
    let json: string;
    try {
      json = JSON.stringify(payload ?? null);
    } catch (e) {
      throw new HwayError('E_BAD_PAYLOAD', 'payload is not JSON-serialisable', { permanent: true, cause: e });
    }
    const p = partitionOf(key, this.P);
    const signer = opts.credential !== undefined ? signerOf(opts.credential) : this.signer;
    let auth = '';
    if (signer !== undefined) {
      const ttl = opts.requestTtlMs ?? this.requestTtlMs;
      if (!(ttl > 0)) throw new HwayError('E_BAD_INPUT', 'requestTtlMs must be positive', { permanent: true });
      const exp = Math.min(signer.expMs, Date.now() + delay + Math.ceil(ttl));
      auth = signTask(signer.cred, { id, type, key, payload: json }, exp);
    }
    this.remember(id, p);
    return { p, rk: signer?.cred.requestKey, task: { id, type, payload: json, key, priority: prio, maxRetries, timeoutMs, reply, delayMs: delay, auth } };
  }

  /**
   * Single enqueues issued in the same tick (concurrent callers) leave together: one script call
   * per partition, in one write. A lone enqueue goes out at once as a plain script call.
   */
  private submit(t: Prepared): Promise<EnqueueReply> {
    if (!this.pending) {
      // The first enqueue of a tick leaves at once; any others of the same tick follow together.
      this.pending = [];
      process.nextTick(() => this.flush());
      return this.store.enqueue(t.p, [t.task]).then((r) => r[0]!);
    }
    return new Promise((resolve, reject) => this.pending!.push({ t, resolve, reject }));
  }

  private flush(): void {
    const batch = this.pending ?? [];
    this.pending = undefined;
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const { t, resolve, reject } = batch[0]!;
      this.store.enqueue(t.p, [t.task]).then((r) => resolve(r[0]!), reject);
      return;
    }
    const byPart = new Map<number, Submitted[]>();
    for (const b of batch) {
      const list = byPart.get(b.t.p);
      if (list) list.push(b);
      else byPart.set(b.t.p, [b]);
    }
    const groups = [...byPart.values()];
    this.store.enqueueGroups(groups.map((list) => ({ p: list[0]!.t.p, tasks: list.map((b) => b.t.task) }))).then(
      (res) =>
        groups.forEach((list, i) => {
          const r = res[i] ?? new Error('no reply');
          list.forEach((b, j) => (r instanceof Error ? b.reject(r) : b.resolve(r[j]!)));
        }),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }

  private remember(id: string, p: number): void {
    this.known.set(id, p);
    if (this.known.size > 100_000) {
      const first = this.known.keys().next();
      if (!first.done) this.known.delete(first.value);
    }
  }

  private async exec<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) throw new HwayError('E_CLOSED', 'client is closed');
    if (this.conn.status !== 'ready') await whenReady(this.conn, this.unavailableAfterMs);
    try {
      return await f();
    } catch (e) {
      throw this.mapError(e);
    }
  }

  private mapError(e: unknown): Error {
    if (e instanceof HwayError) return e;
    if (isConnectionError(e)) return unavailable(e);
    return new HwayError('E_INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
  }

  private ensureSubscribed(): Promise<void> {
    if (!this.sub) {
      this.sub = connect(this.src, { maxRetriesPerRequest: null, enableOfflineQueue: true, retryStrategy: backoff, lazyConnect: false, disconnectTimeout: 200 });
      this.sub.on('error', (e: Error) => this.log.debug('redis error (subscriber)', { error: e.message }));
      this.sub.on('message', (_ch: string, msg: string) => this.onReply(msg));
      let first = true;
      this.sub.on('ready', () => {
        if (first) {
          first = false;
          return;
        }
        // Replies published while we were disconnected are lost: look the pending ones up.
        for (const [id, ws] of this.waiters) void this.pollOnce(id, ws[0]?.p, ws[0]?.rk);
      });
      const sub = this.sub;
      this.subReady = subscribeWhenReady(sub, [this.keys.replyChannel(this.clientId)], this.unavailableAfterMs);
      this.subReady.catch(() => {
        this.subReady = undefined;
        this.sub = undefined;
        void closeConnection(sub);
      });
    }
    return this.subReady ?? this.ensureSubscribed();
  }

  private onReply(msg: string): void {
    const sp = msg.indexOf(' ');
    if (sp <= 0) return;
    const id = msg.slice(0, sp);
    const ws = this.waiters.get(id);
    if (!ws) return;
    try {
      this.settle(id, decodeOutcome(id, msg.slice(sp + 1), ws[0]?.rk));
    } catch (e) {
      if (e instanceof HwayError) {
        this.log.warn('outcome refused', { task: id, code: e.code });
        this.settle(id, { ok: false, error: { code: e.code, message: e.message } });
      } else this.log.warn('malformed reply', { task: id });
    }
  }

  private settle(id: string, o: TaskOutcome | undefined): void {
    const ws = this.waiters.get(id);
    if (!ws) return;
    this.waiters.delete(id);
    for (const w of ws) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(o as TaskOutcome);
    }
  }

  private removeWaiter(id: string, w: Waiter): void {
    const ws = this.waiters.get(id);
    if (!ws) return;
    const i = ws.indexOf(w);
    if (i >= 0) ws.splice(i, 1);
    if (ws.length === 0) this.waiters.delete(id);
  }

  private async pollOnce(id: string, p: number | undefined, rk: Uint8Array | undefined): Promise<boolean> {
    try {
      const o = await this.resultWith(id, p === undefined ? {} : { partition: p }, rk);
      if (o) {
        this.settle(id, o);
        return true;
      }
    } catch (e) {
      if (e instanceof HwayError && e.code === 'E_FORGED_OUTCOME') {
        this.settle(id, { ok: false, error: { code: e.code, message: e.message } });
        return true;
      }
      /* still away; the next reconnect or the call timeout looks again */
    }
    return false;
  }

  private async pollExisting(id: string, p: number, rk: Uint8Array | undefined): Promise<void> {
    for (let delay = 50; this.waiters.has(id) && !this.closed; delay = Math.min(delay * 2, 1000)) {
      if (await this.pollOnce(id, p, rk)) return;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export type { ErrorCode };
