// Dead letters (archived tasks): list, inspect, requeue, delete. Library functions for operators;
// the CLI builds on them. Each partition keeps its own set ({p}:dead, score = archive time).
import type { Redis } from 'ioredis';
import type { ErrorCode } from '../../errors.js';
import { QueueStore } from '../../storage/queue-store.js';
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

function ctx(o: DeadLetterOptions): { store: QueueStore; all: number[] } {
  const P = o.partitions ?? DEFAULT_PARTITIONS;
  return { store: new QueueStore(o.redis, new Keys(o.prefix ?? 'hway')), all: Array.from({ length: P }, (_, p) => p) };
}

async function locate(o: DeadLetterOptions, id: string, where: Where): Promise<number | undefined> {
  const { store, all } = ctx(o);
  if (where.partition !== undefined) return where.partition;
  if (where.key !== undefined) return partitionOf(where.key, all.length);
  const i = (await store.deadScores(id, all)).findIndex((v) => v !== null);
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
  const { store, all } = ctx(o);
  const found = await store.deadPage(all, limit);
  found.sort((a, b) => a.at - b.at);
  const page = found.slice(0, limit);
  const hs = await store.records(page);
  return page.map((f, i) => parse(f.id, f.p, hs[i] ?? {}, f.at));
}

export async function countDeadLetters(o: DeadLetterOptions): Promise<number> {
  const { store, all } = ctx(o);
  return store.countDead(all);
}

export async function inspectDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<DeadLetterDetail | null> {
  const { store } = ctx(o);
  const p = await locate(o, id, where);
  if (p === undefined) return null;
  const [[score], [h]] = await Promise.all([store.deadScores(id, [p]), store.records([{ p, id }])]);
  if (score === null || score === undefined || !h) return null;
  let payload: unknown = null;
  try {
    payload = h.payload === undefined ? null : JSON.parse(h.payload);
  } catch {
    payload = h.payload;
  }
  return { ...parse(id, p, h, score), payload };
}

/** Put a dead letter back as a fresh task (attempt 1). False if it is not a dead letter. */
export async function requeueDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<boolean> {
  const p = await locate(o, id, where);
  if (p === undefined) return false;
  return ctx(o).store.requeueDead(p, id);
}

/** Remove a dead letter with its record and stored error. False if it is not a dead letter. */
export async function deleteDeadLetter(o: DeadLetterOptions, id: string, where: Where = {}): Promise<boolean> {
  const p = await locate(o, id, where);
  if (p === undefined) return false;
  return ctx(o).store.deleteDead(p, id);
}
