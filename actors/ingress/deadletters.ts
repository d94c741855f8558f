// Dead letters (archived tasks): list, inspect, requeue, delete. Library functions for operators;
// the CLI builds on them. Each partition keeps its own set ({p}:dead, score = archive time).
import type { Redis } from 'ioredis';
import type { ErrorCode } from '../../errors.js';
import { runScript } from '../../storage/scripts.js';
import { Keys } from './keys.js';
import { DEFAULT_PARTITIONS, partitionOf } from './partition.js';
import type { Priority } from './task.js';

export interface DeadLetterOptions {
  redis: Redis;
  prefix?: string;
  partitions?: number;
}

export interface DeadLetter {
  id: string;
  partition: number;
  type: string;
  key: string;
  priority: Priority;
  /** The attempt that failed last. */
  attempts: number;
  error: { code: ErrorCode; message: string } | null;
  enqueuedAt: number;
  archivedAt: number;
}

export interface DeadLetterDetail extends DeadLetter {
  /** The task's payload, parsed (may hold secrets: show it only to those allowed to see it). */
  payload: unknown;
}

/** Where a task lives: its key, or its partition; default: searched in all partitions. */
export interface Where {
  key?: string;
  partition?: number;
}

function ctx(o: DeadLetterOptions): { keys: Keys; P: number } {
  return { keys: new Keys(o.prefix ?? 'hway'), P: o.partitions ?? DEFAULT_PARTITIONS };
}

async function locate(o: DeadLetterOptions, id: string, where: Where): Promise<number | undefined> {
  const { keys, P } = ctx(o);
  if (where.partition !== undefined) return where.partition;
  if (where.key !== undefined) return partitionOf(where.key, P);
  const pipe = o.redis.pipeline();
  for (let p = 0; p < P; p++) pipe.zscore(keys.dead(p), id);
  const res = (await pipe.exec()) ?? [];
  const i = res.findIndex(([err, v]) => !err && v !== null);
  return i >= 0 ? i : undefined;
}

function parse(id: string, p: number, h: Record<string, string>, archivedAt: number): DeadLetter {
  let error: DeadLetter['error'] = null;
  if (h.err) {
    try {
      const env = JSON.parse(h.err) as { e?: { code: ErrorCode; message: string } };
      error = env.e ?? null;
    } catch {
      error = null;
    }
  }
  return {
    id,
    partition: p,
    type: h.type ?? '',
    key: h.key ?? id,
    priority: (h.prio as Priority) ?? 'default',
    attempts: Number(h.att) || 1,
    error,
    enqueuedAt: Number(h.enq) || 0,
    archivedAt,
  };
}

/** Dead letters, oldest first, up to `limit` in total (payloads are not included). */
export async function listDeadLetters(o: DeadLetterOptions, limit = 100): Promise<DeadLetter[]> {
  const { keys, P } = ctx(o);
  const pipe = o.redis.pipeline();
  for (let p = 0; p < P; p++) pipe.zrange(keys.dead(p), 0, limit - 1, 'WITHSCORES');
  const res = (await pipe.exec()) ?? [];
  const found: Array<{ id: string; p: number; at: number }> = [];
  res.forEach(([err, v], p) => {
    if (err) throw err;
    const arr = v as string[];
    for (let i = 0; i < arr.length; i += 2) found.push({ id: arr[i]!, p, at: Number(arr[i + 1]) });
  });
  found.sort((a, b) => a.at - b.at);
  const page = found.slice(0, limit);
  const hp = o.redis.pipeline();
  for (const f of page) hp.hgetall(keys.task(f.p, f.id));
  const hs = (await hp.exec()) ?? [];
  return page.map((f, i) => parse(f.id, f.p, (hs[i]?.[1] as Record<string, string>) ?? {}, f.at));
}

export async function countDeadLetters(o: DeadLetterOptions): Promise<number> {
  const { keys, P } = ctx(o);
  const pipe = o.redis.pipeline();
  for (let p = 0; p < P; p++) pipe.zcard(keys.dead(p));
  const res = (await pipe.exec()) ?? [];
  return res.reduce((n, [, v]) => n + Number(v ?? 0), 0);
}

export async function inspectDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<DeadLetterDetail | null> {
  const { keys } = ctx(o);
  const p = await locate(o, id, where);
  if (p === undefined) return null;
  const [score, h] = await Promise.all([o.redis.zscore(keys.dead(p), id), o.redis.hgetall(keys.task(p, id))]);
  if (score === null) return null;
  let payload: unknown = null;
  try {
    payload = h.payload === undefined ? null : JSON.parse(h.payload);
  } catch {
    payload = h.payload;
  }
  return { ...parse(id, p, h, Number(score)), payload };
}

/** Put a dead letter back as a fresh task (attempt 1). False if it is not a dead letter. */
export async function requeueDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<boolean> {
  const { keys } = ctx(o);
  const p = await locate(o, id, where);
  if (p === undefined) return false;
  const r = await runScript(
    o.redis,
    'requeue',
    [keys.task(p, id), keys.dead(p), ...keys.streams(p), keys.result(p, id), keys.idle(p)],
    [id, keys.wakeChannel(p)],
  );
  return r === 1;
}

/** Remove a dead letter with its record and stored error. False if it is not a dead letter. */
export async function deleteDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<boolean> {
  const { keys } = ctx(o);
  const p = await locate(o, id, where);
  if (p === undefined) return false;
  const res = await o.redis.multi().zrem(keys.dead(p), id).del(keys.task(p, id), keys.result(p, id)).exec();
  return Number(res?.[0]?.[1] ?? 0) === 1;
}
