// Loads the named Lua scripts in storage/lua/ onto an ioredis connection with defineCommand, which
// sends EVALSHA and falls back to EVAL on NOSCRIPT (e.g. after a Redis restart that lost the cache).
import { readFileSync } from 'node:fs';
import type { Redis, ChainableCommander } from 'ioredis';

type Arg = string | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/** Script name → number of KEYS (null: variable, the caller's key count is sent first). */
const SCRIPTS = {
  enqueue_many: null,
  fetch: 4,
  claim: 1,
  complete_many: null,
  fail: 5,
  promote: 4,
  requeue: 7,
  lease_acquire: 2,
  lease_renew: 1,
  lease_release: 1,
  heartbeat: 1,
  vault_put: 3,
  vault_delete: 3,
  effect_once: null,
  // The signer gateway's: a registration touches one route set per address.
  gw_register: null,
  gw_unregister: null,
  gw_unroute: null,
  gw_route: null,
  gw_heartbeat: null,
  ratelimit: null,
} satisfies Record<string, number | null>;

export type ScriptName = keyof typeof SCRIPTS;

const dir = new URL('./lua/', import.meta.url);
let sources: Map<ScriptName, string> | undefined;

function load(): Map<ScriptName, string> {
  if (sources) return sources;
  const lib = readFileSync(new URL('_lib.lua', dir), 'utf8');
  sources = new Map();
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    sources.set(name, `${lib}\n${readFileSync(new URL(`${name}.lua`, dir), 'utf8')}`);
  }
  return sources;
}

function cmdName(name: ScriptName): string {
  return `hway_${name}`;
}

/** Define every script on the connection (idempotent). */
export function defineScripts(redis: Redis): void {
  const marker = redis as unknown as { __hwayScripts?: boolean };
  if (marker.__hwayScripts) return;
  for (const [name, lua] of load()) {
    const n = SCRIPTS[name];
    redis.defineCommand(cmdName(name), n === null ? { lua } : { numberOfKeys: n, lua });
  }
  marker.__hwayScripts = true;
}

/** Run a script: keys first (exactly as many as the script declares), then arguments. */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: Arg[]): Promise<unknown> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<string, ScriptFn>)[cmdName(name)]!;
  return SCRIPTS[name] === null ? fn.call(redis, keys.length, ...keys, ...args) : fn.call(redis, ...keys, ...args);
}

/** Queue a script on a pipeline of a connection that has the scripts defined. */
export function pipeScript(pipe: ChainableCommander, name: ScriptName, keys: string[], args: Arg[]): void {
  const fn = (pipe as unknown as Record<string, (...a: Arg[]) => unknown>)[cmdName(name)]!;
  if (SCRIPTS[name] === null) fn.call(pipe, keys.length, ...keys, ...args);
  else fn.call(pipe, ...keys, ...args);
}
