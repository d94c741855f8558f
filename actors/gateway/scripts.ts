// The gateway's Lua scripts (storage/lua/gw_*.lua, ratelimit.lua), loaded by name like
// storage/scripts.ts does for the ingress, but with a variable number of keys: a registration touches
// one route set per address. ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const NAMES = ['gw_register', 'gw_unregister', 'gw_unroute', 'gw_route', 'gw_heartbeat', 'ratelimit'] as const;
export type GwScript = (typeof NAMES)[number];

const dir = new URL('../../storage/lua/', import.meta.url);
let sources: Map<GwScript, string> | undefined;

function load(): Map<GwScript, string> {
  if (sources) return sources;
  sources = new Map(NAMES.map((n) => [n, readFileSync(new URL(`${n}.lua`, dir), 'utf8')]));
  return sources;
}

const marker = Symbol('hwayGwScripts');

function define(redis: Redis): void {
  const r = redis as unknown as Record<symbol, boolean>;
  if (r[marker]) return;
  for (const [name, lua] of load()) redis.defineCommand(`hwaygw_${name}`, { lua });
  r[marker] = true;
}

/** Run a script with any number of keys. */
export function runGw(redis: Redis, name: GwScript, keys: string[], args: Array<string | number>): Promise<unknown> {
  define(redis);
  const fn = (redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[`hwaygw_${name}`]!;
  return fn.call(redis, keys.length, ...keys, ...args);
}
