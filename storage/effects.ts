// Effect-once for registered task types. A task that was running on a node that died runs again on
// the partition's new owner; a handler whose effect is a Redis write makes that write through
// `applyOnce`, which runs the commands and stores the task's outcome in its effect ledger entry in one
// script. The re-run finds the entry and answers the stored outcome without writing again. The
// fencing epoch is checked in the same script, so a node that lost its lease writes nothing.
import type { Redis } from 'ioredis';
import { HwayError } from '../errors.js';
import type { Keys } from '../actors/ingress/keys.js';
import type { Json } from '../actors/ingress/task.js';
import { runScript } from './scripts.js';

/** How long a ledger entry outlives its write: as long as a stored result (a redelivery comes sooner). */
export const EFFECT_TTL_MS = 24 * 3600 * 1000;

/** A Redis effect: the commands to run, and every key they touch. */
export interface RedisEffect {
  /**
   * Every key the commands touch. With a Redis Cluster they must live in the task's slot: build them
   * with the task's `slotTag` (e.g. `invoices:${task.slotTag}:inv-7`).
   */
  keys: string[];
  /** Redis commands, each as [command, ...arguments], e.g. ['HINCRBY', key, 'paid', 10]. */
  commands: Array<Array<string | number>>;
}

export interface EffectScope {
  redis: Redis;
  keys: Keys;
  partition: number;
  /** The fencing epoch under which the task runs. */
  fence: number;
  taskId: string;
}

/** Runs `effect` and records `outcome` for the task, once; answers the outcome that counts. */
export async function applyOnce(scope: EffectScope, effect: RedisEffect, outcome: Json): Promise<{ applied: boolean; outcome: Json }> {
  if (effect.commands.length === 0) throw new HwayError('E_BAD_INPUT', 'applyOnce needs at least one command');
  const keys = [scope.keys.effect(scope.partition, scope.taskId), scope.keys.epoch(scope.partition), ...effect.keys];
  let reply: unknown;
  try {
    reply = await runScript(scope.redis, 'effect_once', keys, [scope.fence, JSON.stringify(outcome), EFFECT_TTL_MS, JSON.stringify(effect.commands)]);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (text.startsWith('E_STALE_EPOCH')) throw new HwayError('E_STALE_EPOCH', text.slice('E_STALE_EPOCH '.length), { cause: err });
    throw err;
  }
  const [applied, stored] = reply as [number, string];
  return { applied: applied === 1, outcome: JSON.parse(stored) as Json };
}
