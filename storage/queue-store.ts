// The ingress's queues in Redis: every script call, key and reply row of the task queues goes
// through here, typed. Nothing else builds their KEYS/ARGV or decodes their rows.
//
// A partition p keeps (actors/ingress/keys.ts): three priority streams read by the consumer group,
// a task hash per task, a result per finished task, a zset of scheduled tasks, a zset of dead
// letters and an idle flag, all under the hash tag {p}, so each script touches one cluster slot.
import type { Redis } from 'ioredis';
import { GROUP, PRIORITIES, type Keys, type Priority } from '../actors/ingress/keys.js';
import { isCluster } from './redis.js';
import { runBatch, runScript, runScriptDurably, type Durability, type ScriptCall } from './scripts.js';

/** Lane index: 0 critical, 1 default, 2 low. */
export type Lane = 0 | 1 | 2;

/** A task as enqueue_many stores it. */
export interface NewTask {
  id: string;
  type: string;
  /** The payload, as JSON. */
  payload: string;
  key: string;
  priority: Priority;
  maxRetries: number;
  /** 0: the consumer's default. */
  timeoutMs: number;
  /** Channel on which the outcome is published ('' for none). */
  reply: string;
  delayMs: number;
  /** The request's credential proof (actors/credential.ts, signTask); '' without auth. */
  auth: string;
}

export interface EnqueueReply {
  created: boolean;
  /** The task's state: the new one, or the existing task's when the id was taken. */
  state: string;
}

/** A stream entry delivered to this consumer, before its task is loaded. */
export interface Delivered {
  lane: Lane;
  entryId: string;
  /** null: the entry carried no task id; it was acknowledged and dropped. */
  id: string | null;
  attempt: number;
}

/** A delivered task, loaded and marked active: what the consumer runs. */
export interface LoadedTask {
  lane: Lane;
  entryId: string;
  id: string;
  attempt: number;
  type: string | null;
  payload: string | null;
  key: string | null;
  maxRetries: number;
  /** 0: none set. */
  timeoutMs: number;
  reply: string;
  enqueuedAt: number;
  /** The request's credential proof as enqueued ('' for none): checked before the task runs. */
  auth: string;
}

export interface Loaded {
  tasks: LoadedTask[];
  /** Deliveries settled from the result store instead of running again. */
  answered: number;
  /** Entries dropped as unusable (no task id, or the task record deleted). */
  dropped: string[];
}

/** What to read of one partition in a fetch round. */
export interface FetchAsk {
  p: number;
  /** The fencing epoch under which this consumer holds p's lease: a fetch without the lease gets nothing. */
  epoch: number;
  /** Entries wanted per lane (0: do not read the lane). */
  counts: [number, number, number];
  /** Lanes the consumer believes exhausted: read only if the others come back short. */
  exhausted: readonly [boolean, boolean, boolean];
}

export interface Fetched {
  /** Bit i: lane i was read. */
  readMask: number;
  /** Bit i: lane i gave fewer entries than asked. */
  shortMask: number;
  delivered: Delivered[];
}

/** An outcome to store: the entry it acknowledges and the envelope (JSON) it stores. */
export interface Finished {
  lane: Lane;
  entryId: string;
  id: string;
  reply: string;
  envelope: string;
}

/** How many dead letters a partition keeps, and for how long (the oldest go first). */
export interface DeadLetterRetention {
  /** Most kept per partition; at least 1. Default 10,000 (Asynq's). */
  max: number;
  /** Longest kept, ms. Default 90 days (Asynq's). */
  maxAgeMs: number;
}

export const DEFAULT_DEAD_LETTER_RETENTION: DeadLetterRetention = { max: 10_000, maxAgeMs: 90 * 24 * 3600 * 1000 };

/** One script call per partition holds at most this many completions. */
const MAX_COMPLETE_BATCH = 100;

type Row = [number, string, string | null, string?, string?, string?, string?, string?, string?, string?, string?, string?];

export class QueueStore {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
    /** This consumer's name in the group (the node id); '' for producers. */
    private readonly consumer = '',
    /** When set, enqueues and outcome writes wait for replicas (see README: what a failover can lose). */
    private readonly durability?: Durability,
  ) {}

  private run(c: ScriptCall): Promise<unknown> {
    return this.durability ? runScriptDurably(this.redis, c.name, c.keys, c.args, this.durability) : runScript(this.redis, c.name, c.keys, c.args);
  }

  /** The lease value this consumer holds under `epoch` (storage/lease-store.ts writes it). */
  private leaseValue(epoch: number): string {
    return `${this.consumer}|${epoch}`;
  }

  // ---- producers ----

  private enqueueCall(p: number, tasks: NewTask[]): ScriptCall {
    const k = this.keys;
    const keys = [k.scheduled(p), k.idle(p), ...k.streams(p)];
    const args: Array<string | number> = [k.wakeChannel(p)];
    for (const t of tasks) {
      keys.push(k.task(p, t.id));
      args.push(t.id, t.type, t.payload, t.key, t.priority, t.maxRetries, t.timeoutMs, t.reply, t.delayMs, t.auth);
    }
    return { name: 'enqueue_many', keys, args };
  }

  /** Enqueue tasks of one partition, idempotently by id. */
  async enqueue(p: number, tasks: NewTask[]): Promise<EnqueueReply[]> {
    return decodeEnqueue(await this.run(this.enqueueCall(p, tasks)));
  }

  /** Enqueue several partitions' tasks together; each group's replies, or its error. */
  async enqueueGroups(groups: Array<{ p: number; tasks: NewTask[] }>): Promise<Array<EnqueueReply[] | Error>> {
    const res = await runBatch(
      this.redis,
      groups.map((g) => this.enqueueCall(g.p, g.tasks)),
      this.durability,
    );
    return res.map(([err, val]) => err ?? decodeEnqueue(val));
  }

  /** The stored result envelopes of a task id in the given partitions (null where none). */
  async results(id: string, partitions: number[]): Promise<Array<string | null>> {
    return Promise.all(partitions.map((p) => this.redis.get(this.keys.result(p, id))));
  }

  // ---- the consumer: reading ----

  /** One fetch round: each ask's entries, or its error. */
  async fetch(asks: FetchAsk[]): Promise<Array<Fetched | Error>> {
    const calls = asks.map(
      (a): ScriptCall => ({
        name: 'fetch',
        keys: [...this.keys.streams(a.p), this.keys.idle(a.p), this.keys.lease(a.p)],
        args: [GROUP, this.consumer, a.counts[0], a.counts[1], a.counts[2], ...a.exhausted.map((x) => (x ? '1' : '0')), this.leaseValue(a.epoch)],
      }),
    );
    return (await runBatch(this.redis, calls)).map(([err, val]) => {
      if (err) return err;
      const [shortMask, rows, readMask] = val as [number, Row[], number];
      return { shortMask, readMask, delivered: rows.map(toDelivered) };
    });
  }

  /** XAUTOCLAIM one page of a lane's pending entries idle at least minIdleMs (fenced by the lease, as fetch). */
  async claim(p: number, epoch: number, lane: Lane, cursor: string, count: number, minIdleMs: number): Promise<{ next: string; delivered: Delivered[] }> {
    const keys = [this.keys.streams(p)[lane], this.keys.lease(p)];
    const [next, rows] = (await runScript(this.redis, 'claim', keys, [GROUP, this.consumer, cursor, count, lane + 1, minIdleMs, this.leaseValue(epoch)])) as [string, Row[]];
    return { next, delivered: rows.map(toDelivered) };
  }

  /**
   * Load the tasks of delivered entries, per partition (one script each, batched): entries whose
   * task is finished are answered from the result store, the rest are marked active and returned.
   */
  async load(groups: Array<{ p: number; delivered: Delivered[] }>): Promise<Array<Loaded | Error>> {
    const calls: ScriptCall[] = [];
    const dropped: string[][] = [];
    for (const g of groups) {
      const keys: string[] = [...this.keys.streams(g.p)];
      const args: Array<string | number> = [GROUP];
      const gone: string[] = [];
      for (const d of g.delivered) {
        if (d.id === null) {
          gone.push(d.entryId);
          continue;
        }
        keys.push(this.keys.task(g.p, d.id), this.keys.result(g.p, d.id));
        args.push(d.lane + 1, d.entryId, d.id, d.attempt);
      }
      dropped.push(gone);
      calls.push({ name: 'load', keys, args });
    }
    const res = await runBatch(this.redis, calls);
    return res.map(([err, val], i) => {
      if (err) return err;
      const [answered, rows] = val as [number, Row[]];
      const out: Loaded = { tasks: [], answered, dropped: dropped[i]! };
      for (const r of rows) {
        // Lua's false arrives as a nil reply
        if (!r[2]) out.dropped.push(r[1]);
        else out.tasks.push(toLoaded(r));
      }
      return out;
    });
  }

  /** Move due scheduled tasks into their streams; resolves to how many moved and when the next is due. */
  async promote(p: number, limit: number): Promise<{ moved: number; nextInMs: number }> {
    const [due, next] = (await runScript(this.redis, 'due', [this.keys.scheduled(p)], [limit])) as [string[], number];
    if (due.length === 0) return { moved: 0, nextInMs: next };
    const keys = [this.keys.scheduled(p), ...this.keys.streams(p), ...due.map((id) => this.keys.task(p, id))];
    const [moved, nextInMs] = (await runScript(this.redis, 'promote', keys, due)) as [number, number];
    return { moved, nextInMs };
  }

  // ---- the consumer: outcomes ----

  /**
   * Store results, publish them and acknowledge their entries, atomically per script call. On one
   * Redis a call covers several partitions (up to MAX_COMPLETE_BATCH tasks): a node's results of one
   * turn usually span many partitions with a task or two each, and a script call per partition cost
   * Redis about as much per task as the whole batch's work. On a cluster a call's keys must share a
   * slot, so there each call covers one partition. Resolves to each group's error or null.
   */
  async complete(groups: Array<{ p: number; done: Finished[] }>, resultTtlMs: number): Promise<Array<Error | null>> {
    const tasks = groups.flatMap((g, gi) => g.done.map((f) => ({ gi, p: g.p, f })));
    const perCall = isCluster(this.redis) ? groups.map((g, gi) => tasks.filter((t) => t.gi === gi)) : [tasks];
    const calls: ScriptCall[] = [];
    const owners: number[][] = [];
    for (const list of perCall) {
      for (let i = 0; i < list.length; i += MAX_COMPLETE_BATCH) {
        const chunk = list.slice(i, i + MAX_COMPLETE_BATCH);
        const parts = [...new Set(chunk.map((t) => t.p))];
        const keys: string[] = parts.flatMap((p) => this.keys.streams(p));
        const args: Array<string | number> = [GROUP, resultTtlMs, parts.length];
        for (const { p, f } of chunk) {
          keys.push(this.keys.task(p, f.id), this.keys.result(p, f.id));
          args.push(parts.indexOf(p) + 1, f.lane + 1, f.entryId, f.envelope, f.id, f.reply);
        }
        calls.push({ name: 'complete_many', keys, args });
        owners.push([...new Set(chunk.map((t) => t.gi))]);
      }
    }
    const errors: Array<Error | null> = groups.map(() => null);
    (await runBatch(this.redis, calls, this.durability)).forEach(([err], i) => {
      if (err) for (const gi of owners[i]!) errors[gi] ??= err;
    });
    return errors;
  }

  /**
   * A failed attempt: schedule a retry after delayMs, or archive it as a dead letter with its error
   * envelope stored as the result. Resolves to ms until the partition's earliest scheduled task.
   */
  async fail(
    p: number,
    t: { lane: Lane; entryId: string; id: string; reply: string; attempt: number },
    how: { retry: boolean; delayMs: number; envelope: string; resultTtlMs: number; retention: DeadLetterRetention },
  ): Promise<number> {
    const k = this.keys;
    return (await this.run({
      name: 'fail',
      keys: [k.stream(p, PRIORITIES[t.lane]), k.task(p, t.id), k.scheduled(p), k.dead(p), k.result(p, t.id)],
      args: [GROUP, t.entryId, t.id, how.retry ? 'retry' : 'archive', how.delayMs, how.envelope, how.resultTtlMs, t.reply, t.attempt + 1, how.retention.max, how.retention.maxAgeMs, k.task(p, ''), k.result(p, '')],
    })) as number;
  }

  // ---- dead letters and task records (reads fan out: one command per partition, no pipeline across slots) ----

  /** The archive time of task id in each partition's dead letters (null where it is not one). */
  async deadScores(id: string, partitions: number[]): Promise<Array<number | null>> {
    const r = await Promise.all(partitions.map((p) => this.redis.zscore(this.keys.dead(p), id)));
    return r.map((v) => (v === null ? null : Number(v)));
  }

  /** The oldest `limit` dead letters of each partition. */
  async deadPage(partitions: number[], limit: number): Promise<Array<{ id: string; p: number; at: number }>> {
    const res = await Promise.all(partitions.map((p) => this.redis.zrange(this.keys.dead(p), 0, limit - 1, 'WITHSCORES')));
    const found: Array<{ id: string; p: number; at: number }> = [];
    res.forEach((arr, i) => {
      for (let j = 0; j < arr.length; j += 2) found.push({ id: arr[j]!, p: partitions[i]!, at: Number(arr[j + 1]) });
    });
    return found;
  }

  async countDead(partitions: number[]): Promise<number> {
    const res = await Promise.all(partitions.map((p) => this.redis.zcard(this.keys.dead(p))));
    return res.reduce((n, v) => n + v, 0);
  }

  /** Task records (hash fields as stored; empty when gone). */
  async records(refs: Array<{ p: number; id: string }>): Promise<Array<Record<string, string>>> {
    return Promise.all(refs.map((r) => this.redis.hgetall(this.keys.task(r.p, r.id))));
  }

  /** Put a dead letter back as a fresh task; false when it is not (or no longer) a dead letter. */
  async requeueDead(p: number, id: string): Promise<boolean> {
    const k = this.keys;
    const r = await runScript(this.redis, 'requeue', [k.task(p, id), k.dead(p), ...k.streams(p), k.result(p, id), k.idle(p)], [id, k.wakeChannel(p)]);
    return Number(r) === 1;
  }

  /** Remove a dead letter with its record and result; false when it was not one. */
  async deleteDead(p: number, id: string): Promise<boolean> {
    const res = await this.redis.multi().zrem(this.keys.dead(p), id).del(this.keys.task(p, id), this.keys.result(p, id)).exec();
    return Number(res?.[0]?.[1] ?? 0) === 1;
  }
}

function toDelivered(r: Row): Delivered {
  return { lane: (r[0] - 1) as Lane, entryId: r[1], id: r[2] || null, attempt: Number(r[3]) || 1 };
}

function toLoaded(r: Row): LoadedTask {
  const [prio, entryId, id, att, type, payload, key, max, tmo, reply, enq, auth] = r;
  return {
    lane: (prio - 1) as Lane,
    entryId,
    id: id as string,
    attempt: Number(att) || 1,
    type: type ?? null,
    payload: payload ?? null,
    key: key || null,
    maxRetries: Number(max) || 0,
    timeoutMs: Number(tmo) || 0,
    reply: reply ?? '',
    enqueuedAt: Number(enq) || 0,
    auth: auth ?? '',
  };
}

function decodeEnqueue(val: unknown): EnqueueReply[] {
  return (val as Array<[number, string]>).map(([created, state]) => ({ created: created === 1, state }));
}

