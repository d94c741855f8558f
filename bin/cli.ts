// Shared parts of the `hway` commands: the Command/Io contract that every module in bin/commands
// implements, strict flag parsing, the error printer and exit codes, the common flags (--redis,
// --token, --prefix, --partitions, --timeout), password reading, and the Redis reachability check.
//
// Exit codes: 0 ok, 1 an operation failed (its stable code is printed), 2 usage error, 3 Redis is
// not reachable or cannot work as configured (E_REDIS_UNAVAILABLE, E_REDIS_MISCONFIGURED). A usage
// error is an E_BAD_INPUT raised before anything was sent anywhere.
//
// Where Redis is: `--redis URL` (env HWAY_REDIS) for a single Redis, or `--redis-cluster
// HOST:PORT[,HOST:PORT…]` (env HWAY_REDIS_CLUSTER) for the seeds of a Redis Cluster. Both on the
// command line is a usage error; a flag wins over the other one's environment variable; both
// variables set and neither flag is a usage error too (ambiguous); neither: redis://127.0.0.1:6379.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { HwayError, isHwayError, type ErrorCode } from '../errors.js';
import { readMembers } from '../actors/inspect/members.js';
import { checkClusterSeeds, checkNotClusterNode, checkPrefix } from '../storage/redis-preflight.js';
import { connect, parseClusterSeeds, type ClusterConfig } from '../storage/redis.js';

export interface Io {
  /** --json was given: `out` prints its object as one JSON line, errors go to stdout as JSON too. */
  json: boolean;
  /** The command's result: `obj` with --json, else `text` (nothing when text is empty). */
  out(obj: unknown, text: string): void;
  /** Prints an error: one readable line on stderr; with --json also {"error":{code,message}} on stdout. */
  err(code: ErrorCode | string, message: string): void;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  /** One line for `hway --help`. */
  summary: string;
  /** The full text of `hway <name> --help`. */
  help: string;
  /** Runs with the arguments after the command name (without --json/--help); resolves to the exit code. */
  run(argv: string[], io: Io): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_REDIS = 3;

/** A mistake in the command line itself (exit 2). */
export class UsageError extends HwayError {
  constructor(message: string) {
    super('E_BAD_INPUT', message, { permanent: true });
  }
}

export function makeIo(json: boolean, env: NodeJS.ProcessEnv = process.env): Io {
  return {
    json,
    env,
    out(obj: unknown, text: string): void {
      if (json) process.stdout.write(`${JSON.stringify(obj)}\n`);
      else if (text !== '') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    err(code: ErrorCode | string, message: string): void {
      const line = message.replace(/\s*\n\s*/g, ' ');
      process.stderr.write(`hway: ${line}${code ? ` [${code}]` : ''}\n`);
      if (json) process.stdout.write(`${JSON.stringify({ error: { code, message: line } })}\n`);
    },
  };
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (isHwayError(e) && (e.code === 'E_REDIS_UNAVAILABLE' || e.code === 'E_REDIS_MISCONFIGURED')) return EXIT_REDIS;
  return EXIT_FAILED;
}

/** Prints any thrown value the way the CLI contract says and returns the exit code. */
export function fail(io: Io, e: unknown): number {
  if (isHwayError(e)) io.err(e.code, e.message);
  else io.err('E_INTERNAL', e instanceof Error ? e.message : String(e));
  return exitCodeOf(e);
}

// ---- flags ----

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean' | 'list';
  /** Environment variable used when the flag is absent. */
  env?: string;
  default?: string | number;
  /** A default shown in help only: the command applies it itself (so that it can tell "not given"). */
  helpDefault?: string;
  /** Placeholder in help ("URL", "MS"). */
  arg?: string;
  desc: string;
}
export type FlagSpecs = Record<string, FlagSpec>;

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean' ? boolean : S['type'] extends 'list' ? string[] : S['type'] extends 'number' ? number | undefined : string | undefined;
export type FlagValues<F extends FlagSpecs> = { [K in keyof F]: ValueOf<F[K]> };

export interface Parsed<F extends FlagSpecs> {
  flags: FlagValues<F>;
  args: string[];
}

/** Where each flag's value came from; kept on the flags object under this (non-enumerable) key. */
export const FLAG_SOURCES: unique symbol = Symbol('hway.flagSources');
export type FlagSource = 'argv' | 'env' | 'default';

/** Where `name` got its value: the command line, its environment variable, or its default. */
export function flagSource(flags: object, name: string): FlagSource | undefined {
  const sources = (flags as { [FLAG_SOURCES]?: Record<string, FlagSource> })[FLAG_SOURCES];
  if (sources !== undefined) return sources[name];
  // Flags built by hand (not by parseFlags): a value counts as given.
  return (flags as Record<string, unknown>)[name] === undefined ? undefined : 'argv';
}

function toNumber(name: string, raw: string): number {
  if (!/^\d{1,15}$/.test(raw)) throw new UsageError(`--${name} must be a non-negative integer, not "${raw}"`);
  return Number(raw);
}

/**
 * Strict parsing: `--name value`, `--name=value`, `--` ends flags. An unknown flag is a usage error;
 * so is any attempt to pass a password on the command line (argv is visible to every local user).
 */
export function parseFlags<F extends FlagSpecs>(argv: string[], specs: F, env: NodeJS.ProcessEnv = process.env): Parsed<F> {
  const values: Record<string, string | number | boolean | string[] | undefined> = {};
  const sources: Record<string, FlagSource> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      args.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq >= 0 ? eq : undefined) : a.slice(1);
    if (/^(password|pass|passwd|pw)$/i.test(name)) {
      throw new UsageError('passwords are never taken from the command line: use --password-file F or pipe the password on standard input');
    }
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (spec === undefined || !a.startsWith('--')) throw new UsageError(`unknown flag ${a.slice(0, eq >= 0 ? eq : undefined)} (see --help)`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name} needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
      raw = next;
      i++;
    }
    if (spec.type === 'list') values[name] = [...((values[name] as string[] | undefined) ?? []), raw];
    else if (values[name] !== undefined) throw new UsageError(`--${name} given twice`);
    else values[name] = spec.type === 'number' ? toNumber(name, raw) : raw;
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (values[name] !== undefined) {
      sources[name] = 'argv';
      continue;
    }
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      sources[name] = 'env';
      if (spec.type === 'number') values[name] = toNumber(name, fromEnv);
      else if (spec.type === 'list') values[name] = fromEnv.split(',').filter(Boolean);
      else if (spec.type === 'boolean') values[name] = fromEnv === '1' || fromEnv === 'true';
      else values[name] = fromEnv;
      continue;
    }
    if (spec.type === 'boolean') values[name] = false;
    else if (spec.type === 'list') values[name] = [];
    else values[name] = spec.default;
    if (spec.default !== undefined) sources[name] = 'default';
  }
  Object.defineProperty(values, FLAG_SOURCES, { value: sources, enumerable: false });
  return { flags: values as FlagValues<F>, args };
}

/** Exactly `names.length` positional arguments (`optional` more allowed). */
export function positionals(args: string[], names: string[], optional = 0): string[] {
  if (args.length < names.length) throw new UsageError(`missing ${names.slice(args.length).map((n) => `<${n}>`).join(' ')}`);
  if (args.length > names.length + optional) throw new UsageError(`unexpected argument "${args[names.length + optional]}"`);
  return args;
}

/** Help rows for `specs`, then --json (described by `json`, or left out when null) and --help. */
export function flagHelp(specs: FlagSpecs, json: string | null = 'print one JSON object on stdout'): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `--${name}${s.type === 'boolean' ? '' : ` ${s.arg ?? (s.type === 'number' ? 'N' : 'VALUE')}`}`;
    const shown = s.default ?? s.helpDefault;
    const extra = [s.env ? `env ${s.env}` : '', shown !== undefined ? `default ${shown}` : '', s.type === 'list' ? 'repeatable' : ''].filter(Boolean).join(', ');
    return [left, `${s.desc}${extra ? ` (${extra})` : ''}`];
  });
  if (json !== null) rows.push(['--json', json]);
  rows.push(['--help', 'show this help']);
  const w = Math.max(...rows.map(([l]) => l!.length));
  return rows.map(([l, r]) => `  ${l!.padEnd(w)}  ${r}`).join('\n');
}

// ---- common flags ----

export const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
/** The Redis preflight's overall deadline (start, cluster): for a Redis that does not answer, not for a slow one. */
export const PREFLIGHT_MS = 5000;

export const REDIS_FLAGS = {
  redis: { type: 'string', env: 'HWAY_REDIS', helpDefault: DEFAULT_REDIS, arg: 'URL', desc: 'URL of a single Redis' },
  'redis-cluster': { type: 'string', env: 'HWAY_REDIS_CLUSTER', arg: 'HOST:PORT[,HOST:PORT…]', desc: 'seed nodes of a Redis Cluster, instead of --redis' },
  prefix: { type: 'string', env: 'HWAY_PREFIX', default: 'hway', arg: 'P', desc: 'key prefix of the cluster' },
  partitions: { type: 'number', env: 'HWAY_PARTITIONS', default: 64, desc: 'partition count of the cluster' },
} as const satisfies FlagSpecs;

export const CLIENT_FLAGS = {
  ...REDIS_FLAGS,
  token: { type: 'string', env: 'HWAY_TOKEN', arg: 'T', desc: "token of the producer's account, when auth is on" },
  timeout: { type: 'number', default: 30_000, arg: 'MS', desc: 'how long to wait for the result' },
} as const satisfies FlagSpecs;

/** Where Redis is: a redis:// URL, or the seeds of a Redis Cluster. */
export type RedisTarget = string | ClusterConfig;

export interface RedisChoice {
  redis: RedisTarget;
  /** The same as command-line arguments, for child processes (`hway cluster`). */
  redisArgs: string[];
  /** For messages: the URL without its password, or the seed list. */
  redisLabel: string;
}

type RedisFlagValues = { redis?: string | undefined; 'redis-cluster'?: string | undefined };

/** `--redis` or `--redis-cluster` (see the top of this file for which wins). */
export function redisChoice(f: RedisFlagValues): RedisChoice {
  const url = f.redis;
  const seeds = f['redis-cluster'];
  const urlFrom = url === undefined ? undefined : flagSource(f, 'redis');
  const seedsFrom = seeds === undefined ? undefined : flagSource(f, 'redis-cluster');
  let useCluster: boolean;
  if (urlFrom === 'argv' && seedsFrom === 'argv') throw new UsageError('--redis and --redis-cluster exclude each other: give one (a single Redis, or the seeds of a Redis Cluster)');
  else if (urlFrom === 'argv') useCluster = false;
  else if (seedsFrom === 'argv') useCluster = true;
  else if (urlFrom === 'env' && seedsFrom === 'env') throw new UsageError('both HWAY_REDIS and HWAY_REDIS_CLUSTER are set: unset one, or pass --redis or --redis-cluster');
  else useCluster = seedsFrom !== undefined;
  if (useCluster) {
    let cluster;
    try {
      cluster = parseClusterSeeds(seeds!);
    } catch (e) {
      throw new UsageError(`--redis-cluster: ${(e as Error).message}`);
    }
    const list = cluster.map((c) => (c.host.includes(':') ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`)).join(',');
    return { redis: { cluster }, redisArgs: ['--redis-cluster', list], redisLabel: `Redis Cluster ${list}` };
  }
  const redis = url === undefined || urlFrom === 'default' ? DEFAULT_REDIS : url;
  let u: URL;
  try {
    u = new URL(redis);
  } catch {
    throw new UsageError(`--redis must be a redis:// URL, not "${redactUrl(redis)}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--redis must be a redis:// or rediss:// URL, not "${redactUrl(redis)}"`);
  return { redis, redisArgs: ['--redis', redis], redisLabel: redactUrl(redis) };
}

/** Checks the cluster flags that every command shares. */
export function clusterOptions(f: RedisFlagValues & { prefix?: string | undefined; partitions?: number | undefined }): RedisChoice & { prefix: string; partitions: number } {
  const choice = redisChoice(f);
  const prefix = f.prefix ?? 'hway';
  try {
    checkPrefix(prefix);
  } catch (e) {
    throw new UsageError(`--prefix: ${(e as Error).message}`);
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(prefix)) throw new UsageError('--prefix must be 1–64 characters of A–Z a–z 0–9 . _ -');
  const partitions = f.partitions ?? 64;
  if (partitions < 1 || partitions > 16384) throw new UsageError('--partitions must be 1 to 16384');
  return { ...choice, prefix, partitions };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

function redisUnavailable(url: string, cause: unknown): HwayError {
  const c = cause as { code?: string; message?: string } | undefined;
  const why = c?.code ?? c?.message ?? String(cause);
  return new HwayError('E_REDIS_UNAVAILABLE', `cannot reach Redis at ${redactUrl(url)} (${why}); start one with: redis-server --daemonize yes`, { cause });
}

/**
 * Connects once, without retries, and PINGs: so that every command says in one line that Redis is
 * away, within ~`ms`, instead of each library waiting and retrying in its own way. Resolves to the
 * connection (the caller closes it) so that commands that need one do not connect twice.
 * A single Redis must not be a cluster node; a cluster must answer at one seed at least, have all its
 * slots assigned and be up (E_REDIS_MISCONFIGURED / E_REDIS_UNAVAILABLE, exit 3). A cluster
 * connection is an ioredis Cluster typed as Redis (see storage/redis.ts).
 */
export async function connectRedis(src: RedisTarget, ms = 1500): Promise<Redis> {
  if (typeof src !== 'string') return connectCluster(src, ms);
  const url = src;
  const r = new Redis(url, { lazyConnect: true, connectTimeout: ms, commandTimeout: ms * 2, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, disconnectTimeout: 100 });
  let last: unknown;
  r.on('error', (e: unknown) => (last = e));
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    r.disconnect();
    throw redisUnavailable(url, (e as { code?: string }).code ? e : (last ?? e));
  }
  try {
    await checkNotClusterNode(r, ms * 2);
  } catch (e) {
    r.disconnect();
    throw e;
  }
  return r;
}

async function connectCluster(src: ClusterConfig, ms: number): Promise<Redis> {
  // The seeds first, with plain connections: an ioredis Cluster client waits for ever on a cluster
  // whose slots are not assigned, and says only "None of startup nodes is available" otherwise.
  await checkClusterSeeds(src.cluster, src.nodeOptions ?? {}, ms * 2);
  const c = connect(src, { lazyConnect: true, connectTimeout: ms, commandTimeout: ms * 2, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, disconnectTimeout: 100 });
  let last: unknown;
  c.on('error', (e: unknown) => (last = e));
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms * 2} ms`)), ms * 2)));
    await Promise.race([c.connect().then(() => c.ping()), timeout]);
    return c;
  } catch (e) {
    c.disconnect();
    const cause = (last ?? e) as { message?: string };
    const seeds = src.cluster.map((s) => `${s.host}:${s.port}`).join(', ');
    throw new HwayError('E_REDIS_UNAVAILABLE', `cannot use the Redis Cluster at ${seeds} (${cause.message ?? String(cause)})`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

export async function checkRedis(src: RedisTarget, ms = 1500): Promise<void> {
  const r = await connectRedis(src, ms);
  r.disconnect();
}

/** Live node ids of a cluster (the membership, read by the inspector: actors/inspect/members.ts). */
export async function liveNodes(r: Redis, prefix: string): Promise<Array<{ id: string; expiresInMs: number }>> {
  return (await readMembers(r, prefix)).live;
}

/**
 * A producer client for the command's flags, after the reachability check. Warns on stderr when no
 * node serves the prefix: the task is durable and waits for one, which a user should know.
 */
export async function openClient(f: FlagValues<typeof CLIENT_FLAGS>): Promise<HwayClient> {
  const { redis, prefix, partitions } = clusterOptions(f);
  const probe = await connectRedis(redis);
  try {
    const nodes = await liveNodes(probe, prefix);
    if (nodes.length === 0) {
      process.stderr.write(`hway: no node is running under prefix "${prefix}" (start one with: hway start); the task waits for one, up to ${f.timeout} ms\n`);
    }
  } finally {
    probe.disconnect();
  }
  return new HwayClient({ redis, prefix, partitions, callTimeoutMs: f.timeout ?? 30_000, ...(f.token === undefined ? {} : { token: f.token }) });
}

// ---- passwords ----

function stripNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

/**
 * The password from `--password-file F` or standard input (piped: all of it up to EOF; a terminal:
 * prompted without echo). One trailing newline is dropped. Never from argv.
 */
export async function readPassword(file: string | undefined, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  let pw: string;
  if (file !== undefined) {
    try {
      pw = stripNewline(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new HwayError('E_BAD_INPUT', `cannot read password file ${file} (${(e as { code?: string }).code ?? 'error'})`, { permanent: true });
    }
  } else if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    pw = stripNewline(Buffer.concat(chunks).toString('utf8'));
  } else {
    pw = await promptHidden('password: ', stdin);
  }
  if (pw === '') throw new HwayError('E_BAD_INPUT', 'empty password: give --password-file F or pipe the password on standard input', { permanent: true });
  return pw;
}

function promptHidden(prompt: string, stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let buf = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new HwayError('E_BAD_INPUT', 'cancelled', { permanent: true }));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

// ---- small helpers for human output ----

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
