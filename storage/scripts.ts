// Loads the named Lua scripts in storage/lua/ onto an ioredis connection with defineCommand, which
// sends EVALSHA and falls back to EVAL on NOSCRIPT (e.g. after a Redis restart that lost the cache).
import { readFileSync } from 'node:fs';
import type { Redis, ChainableCommander } from 'ioredis';

type Arg = string | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/**
 * The scripts, by file name in storage/lua/. As in BullMQ, a name ending in -N declares N KEYS, and
 * the caller passes exactly N keys; a name without a count takes a variable number (sent first).
 * Not yet every key a script touches is declared: fetch, claim and promote read the task hashes and
 * results of their partition by the ids they find in its stream (built from the partition prefix, so
 * in the declared keys' slot), and gw_route builds route keys from a prefix.
 */
const FILES = [
  'enqueue_many',
  'fetch-4',
  'claim-1',
  'complete_many',
  'fail-5',
  'promote-4',
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
  'gw_route',
  'gw_heartbeat',
  'ratelimit',
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
