// Loads the named Lua scripts in storage/lua/ onto an ioredis connection with defineCommand, which
// sends EVALSHA and falls back to EVAL on NOSCRIPT (e.g. after a Redis restart that lost the cache).
import { readFileSync } from 'node:fs';
import type { Redis, ChainableCommander } from 'ioredis';

type Arg = string | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/**
 * The scripts, by file name in storage/lua/. As in BullMQ, a name ending in -N declares N KEYS, and
 * the caller passes exactly N keys; a name without a count takes a variable number (sent first).
 * Every key a script touches is declared (Redis Cluster checks that they share a slot): where a
 * script's keys depend on data (the task ids in a stream), the data is read by one script and the
 * keys declared to the next (fetch-5/claim-2 then load, due-1 then promote).
 */
const FILES = [
  'enqueue_many',
  'fetch-5',
  'claim-2',
  'load',
  'complete_many',
  'fail-5',
  'due-1',
  'promote',
  'requeue-7',
  'lease_acquire-2',
  'lease_renew-1',
  'lease_release-1',
  'heartbeat-1',
  'vault_put-3',
  'vault_delete-3',
  'effect_once',
  // The signer gateway's: a registration touches one route set per address.
  'gw_register',
  'gw_unregister',
  'gw_unroute',
  'gw_heartbeat-1',
  'ratelimit-2',
  // The audit log's compare-and-append (actors/audit/).
  'audit_append-1',
] as const;

type FileName = (typeof FILES)[number];
export type ScriptName = FileName extends infer F ? (F extends `${infer N}-${number}` ? N : F) : never;

interface Script {
  lua: string;
  /** null: a variable number of keys. */
  keys: number | null;
}

const dir = new URL('./lua/', import.meta.url);
let scripts: Map<ScriptName, Script> | undefined;

/** A script's source with its `-- include: F` lines replaced by F (Lua scripts cannot import). */
function source(file: string): string {
  return readFileSync(new URL(file, dir), 'utf8').replace(/^-- include: (\S+)$/gm, (_, lib: string) => readFileSync(new URL(lib, dir), 'utf8'));
}

function load(): Map<ScriptName, Script> {
  if (scripts) return scripts;
  scripts = new Map();
  for (const file of FILES) {
    const m = /^(.*?)(?:-(\d+))?$/.exec(file)!;
    scripts.set(m[1] as ScriptName, { lua: source(`${file}.lua`), keys: m[2] === undefined ? null : Number(m[2]) });
  }
  return scripts;
}

function cmdName(name: ScriptName): string {
  return `hway_${name}`;
}

/** The command names the scripts are defined under (connections send them outside auto-pipelines). */
export function scriptCommandNames(): string[] {
  return [...load().keys()].flatMap((n) => [cmdName(n), `${cmdName(n)}Buffer`]);
}

/** Define every script on the connection (idempotent). */
export function defineScripts(redis: Redis): void {
  const marker = redis as unknown as { __hwayScripts?: boolean };
  if (marker.__hwayScripts) return;
  for (const [name, { lua, keys }] of load()) redis.defineCommand(cmdName(name), keys === null ? { lua } : { numberOfKeys: keys, lua });
  marker.__hwayScripts = true;
}

/** Run a script: keys first (exactly as many as the script declares), then arguments. */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, ScriptFn>)[cmdName(name)]!;
  return load().get(name)!.keys === null ? fn.call(redis, keys.length, ...keys, ...args) : fn.call(redis, ...keys, ...args);
}

/** Queue a script on a pipeline of a connection that has the scripts defined. */
export function pipeScript(pipe: ChainableCommander, name: ScriptName, keys: string[], args: Arg[]): void {
  const fn = (pipe as unknown as Record<string, (...a: Arg[]) => unknown>)[cmdName(name)]!;
  if (load().get(name)!.keys === null) fn.call(pipe, keys.length, ...keys, ...args);
  else fn.call(pipe, ...keys, ...args);
}

/** One script call of a batch. */
export interface ScriptCall {
  name: ScriptName;
  keys: string[];
  args: Arg[];
}

/** Each call's error or reply, in order (as a pipeline's exec gives them). */
export type Reply = [Error | null, unknown];

/**
 * Run script calls together: each is sent on its own, in this turn. On one Redis the connection
 * coalesces a turn's writes into one (write-coalescing.ts), so they leave in one write without an
 * ioredis Pipeline (which copies every defined script onto itself: more than the call it carries). On
 * a cluster each master's connection coalesces its own writes the same way (auto-pipelining is off
 * there), so the calls leave in one write per master.
 */
export async function runBatch(redis: Redis, calls: ScriptCall[], durability?: Durability): Promise<Reply[]> {
  if (calls.length === 0) return [];
  const run = (c: ScriptCall) => (durability ? runScriptDurably(redis, c.name, c.keys, c.args, durability) : runScript(redis, c.name, c.keys, c.args));
  const settled = await Promise.allSettled(calls.map(run));
  return settled.map((s): Reply => (s.status === 'fulfilled' ? [null, s.value] : [s.reason instanceof Error ? s.reason : new Error(String(s.reason)), null]));
}

/** Acknowledgement by replicas that a write waits for (WAIT numreplicas timeout) before it counts. */
export interface Durability {
  replicas: number;
  timeoutMs: number;
}

/**
 * Run a script, then WAIT until `d.replicas` replicas have it (or `d.timeoutMs` passed), on the same
 * node: one pipeline, which a cluster client routes by the script's keys. The reply comes only after
 * that, so in the normal case what a caller was told is on a replica before it hears it. A shortfall
 * (a master left without an in-sync replica after a failover) is not an error: the write is on the
 * master, and refusing it would stop the queue until an operator adds a replica. WAIT narrows the
 * window of writes a failover can lose; it does not close it (Redis replication stays asynchronous).
 */
export async function runScriptDurably(redis: Redis, name: ScriptName, keys: string[], args: Arg[], d: Durability): Promise<unknown> {
  const pipe = redis.pipeline();
  pipeScript(pipe, name, keys, args);
  pipe.call('WAIT', d.replicas, d.timeoutMs);
  const res = (await pipe.exec()) ?? [];
  const [err, val] = res[0] ?? [new Error('no reply'), null];
  if (err) throw err;
  return val;
}
