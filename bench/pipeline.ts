// Pipeline benchmark: signs per second end to end (client → Redis ingress → vault actor → enclave →
// reply) at node concurrency 10 and 50 with p50/p99 latency, next to a baseline measured in the same
// run on the same Redis: a BullMQ worker that signs with @noble/curves. Then p99 at half of the peak
// rate (open loop), resident memory with many active vaults, and re-activation time of a passivated
// vault. The producer runs in its own process for both systems (bench/sign-producer.ts), as real
// producers do; the CPU per sign is reported for the consuming process and the producer's separately.
// Highway runs three times at each concurrency: auth off; auth on (credentials: a MAC per task checked
// by the node, a MAC per outcome checked by the client), so the cost of auth is a ratio of the same
// run; and auth off with 16 partitions instead of the default 64 (fewer, fuller fetches per sign: a
// deployment of up to 16 nodes can choose it; see bench/README.md).
//   npm run bench:pipeline [-- --json] [-- --seconds S] [-- --vaults N] [-- --auth-only | --audit-only [--rounds R]]
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Queue, Worker } from 'bullmq';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HwayClient } from '../actors/client.js';
import { createNode, type HwayNode } from '../actors/node.js';
import { TokenService } from '../actors/gateway/tokens.js';
import { ProducerProcess, type PhaseResult, type ProducerSetup } from './producer-process.js';
import { fmt, numArg, type Row, table, wantsJson } from './report.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';

const REDIS = process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379';
const MS = numArg('seconds', 4) * 1000;
const VAULTS = numArg('vaults', 10_000);
const KEYS = 64;
const say = (s: string): void => {
  if (!wantsJson()) process.stderr.write(s + '\n');
};
const digest = createHash('sha256').update('benchmark').digest();

interface Run {
  rate: number;
  p50: number;
  p99: number;
  /** CPU time of the consuming process (node, or BullMQ worker) per sign, µs: less noisy than rates here. */
  cpuUs?: number;
  /** CPU time of the producer's process per sign, µs. */
  producerCpuUs?: number;
}

/** The producer in its own process: warm-up, a closed loop of `inFlight` chains, then an open loop at half its rate. */
async function drive(setup: ProducerSetup, inFlight: number): Promise<{ closed: Run; half: Run }> {
  const producer = await ProducerProcess.start(setup);
  try {
    const asRun = (r: PhaseResult): Run => ({ rate: r.rate, p50: r.p50, p99: r.p99, cpuUs: r.consumerCpuUs, producerCpuUs: r.cpuUs });
    await producer.run({ phase: 'closed', inFlight, ms: 1000 }); // warm-up: actors active, JIT warm
    const closed = asRun(await producer.run({ phase: 'closed', inFlight, ms: MS }));
    const half = asRun(await producer.run({ phase: 'open', rate: closed.rate / 2, ms: MS }));
    return { closed, half };
  } finally {
    await producer.stop();
  }
}

async function flush(prefix: string): Promise<void> {
  const r = new Redis(REDIS);
  await deleteKeysWithPrefix(r, prefix);
  await r.quit();
}

async function withNode<T>(concurrency: number, extra: Parameters<typeof createNode>[0], f: (node: HwayNode, client: HwayClient, prefix: string, token?: string) => Promise<T>, auth = false): Promise<T> {
  const prefix = `hwb-${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'hway-bench-'));
  const tokenSecret = randomBytes(32).toString('hex');
  const node = createNode({ redis: REDIS, prefix, dataDir, masterKeys: `1:${randomBytes(32).toString('hex')}`, concurrency, ...(auth ? { tokenSecret } : { insecure: true }), ...extra });
  await node.start();
  let token: string | undefined;
  if (auth) {
    const issuer = new TokenService({ redis: REDIS, secret: tokenSecret, prefix, subscribe: false });
    token = (await issuer.issue({ account: 'bench', perm: 'admin', ttlSec: 3600 })).token;
    await issuer.close();
  }
  // Signs come from the producer's process; this client serves the memory and re-activation rows.
  const client = new HwayClient({ redis: REDIS, prefix, callTimeoutMs: 60_000, ...(token === undefined ? {} : { token }) });
  try {
    return await f(node, client, prefix, token);
  } finally {
    await client.close();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await flush(prefix);
  }
}

/**
 * `audit: false` runs auth on with the audit log off (the audit log needs auth: it records verified
 * accounts). `partitions`: the node's and the producer's partition count (default 64).
 */
async function hwaySigns(concurrency: number, auth = false, audit = true, partitions?: number): Promise<{ closed: Run; half: Run }> {
  // A generous rate limit: the benchmark measures the pipeline, not the limiter refusing it.
  const limits = { token: { rate: 1e9, burst: 1e9 }, account: { rate: 1e9, burst: 1e9 } };
  const parts = partitions === undefined ? {} : { partitions };
  return withNode(concurrency, { ...parts, ...(auth ? { gateway: { rateLimits: limits }, ...(audit ? {} : { audit: false as const }) } : {}) }, (_node, _client, prefix, token) =>
    drive({ system: 'hway', redis: REDIS, prefix, keys: KEYS, ...parts, ...(token === undefined ? {} : { token }) }, concurrency * 2),
  auth);
}

async function bullmqSigns(concurrency: number): Promise<{ closed: Run; half: Run }> {
  const prefix = `hwb-bull-${randomBytes(3).toString('hex')}`;
  const connection = { host: '127.0.0.1', port: Number(new URL(REDIS).port || 6379), maxRetriesPerRequest: null };
  const keys = Array.from({ length: KEYS }, () => secp256k1.utils.randomSecretKey());
  const worker = new Worker(
    'sign',
    async (job) => {
      const { k, d } = job.data as { k: number; d: string };
      return Buffer.from(secp256k1.sign(Buffer.from(d, 'hex'), keys[k]!, { prehash: false })).toString('hex');
    },
    { connection, prefix, concurrency },
  );
  await worker.waitUntilReady();
  try {
    return await drive({ system: 'bull', redis: REDIS, prefix, keys: KEYS }, concurrency * 2);
  } finally {
    await worker.close();
    const queue = new Queue('sign', { connection, prefix });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await flush(prefix);
  }
}

/** RSS with `n` active vaults, each generated (its actor and enclave instance stay active). */
async function vaultMemory(n: number): Promise<{ rssKiBPerVault: number; active: number }> {
  return withNode(50, { passivateMs: 60 * 60_000 }, async (node, client) => {
    await client.vault.generate('warm');
    await client.vault.sign('warm', digest);
    global.gc?.();
    await new Promise((r) => setTimeout(r, 300));
    const before = process.memoryUsage().rss;
    const ids = Array.from({ length: n }, (_, i) => `m-${i}`);
    for (let i = 0; i < n; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => client.vault.generate(id)));
    global.gc?.();
    await new Promise((r) => setTimeout(r, 300));
    const rss = process.memoryUsage().rss - before;
    const stats = await node.stats();
    say(`  ${stats.vaults.active} vault actors active, ${stats.enclave.instances} enclave instances`);
    return { rssKiBPerVault: rss / 1024 / n, active: stats.vaults.active - 1 };
  });
}

/** Sign latency on an active vault, and on the same vault after it was passivated (re-activation). */
async function reactivation(): Promise<{ activeSignMs: number; reactivationMs: number }> {
  return withNode(10, { passivateMs: 500 }, async (_node, client) => {
    await client.vault.generate('sleeper');
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const active: number[] = [];
    for (let k = 0; k < 21; k++) {
      const s = performance.now();
      await client.vault.sign('sleeper', digest);
      active.push(performance.now() - s);
    }
    const react: number[] = [];
    for (let k = 0; k < 5; k++) {
      await new Promise((r) => setTimeout(r, 1200)); // > passivateMs + one sweep
      const s = performance.now();
      await client.vault.sign('sleeper', digest);
      react.push(performance.now() - s);
    }
    return { activeSignMs: median(active), reactivationMs: median(react) };
  });
}

// --auth-only: auth off vs on. --audit-only: auth on, audit log off vs on (what auditing costs).
const authOnly = process.argv.includes('--auth-only');
const auditOnly = process.argv.includes('--audit-only');
if (authOnly || auditOnly) {
  // The two settings alternate, `--rounds` times at each concurrency: the machine's drift hits both.
  const [what, offRun, onRun] = auditOnly
    ? ['audit', (c: number) => hwaySigns(c, true, false), (c: number) => hwaySigns(c, true, true)]
    : ['auth', (c: number) => hwaySigns(c), (c: number) => hwaySigns(c, true)];
  const rounds = numArg('rounds', 3);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const authRows: Row[] = [];
  const json: Record<string, unknown> = {};
  for (const c of [10, 50]) {
    const off: Run[] = [];
    const on: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      say(`concurrency ${c}, round ${r + 1}/${rounds}: ${what} off, then on …`);
      off.push((await offRun(c)).closed);
      on.push((await onRun(c)).closed);
    }
    const ratios = on.map((o, i) => o.rate / off[i]!.rate);
    json[`c${c}`] = { off, on, ratios };
    authRows.push({
      concurrency: c,
      'off signs/s (median)': median(off.map((r) => r.rate)),
      'on signs/s (median)': median(on.map((r) => r.rate)),
      'on/off per round': ratios.map((x) => fmt(x, 3)).join(' '),
      'on/off (median)': `${fmt(median(ratios), 3)}x`,
      'node CPU µs/sign off': median(off.map((r) => r.cpuUs ?? 0)),
      'node CPU µs/sign on': median(on.map((r) => r.cpuUs ?? 0)),
    });
  }
  if (wantsJson()) console.log(JSON.stringify({ seconds: MS / 1000, rounds, ...json }));
  else console.log(table(`cost of ${what} (same run, same Redis; producer in its own process${auditOnly ? '; auth on in both' : ''})`, authRows));
  process.exit(0);
}

const results: Record<string, { closed: Run; half: Run }> = {};
for (const c of [10, 50]) {
  say(`highway, concurrency ${c} …`);
  results[`hway-${c}`] = await hwaySigns(c);
  say(`highway with auth on, concurrency ${c} …`);
  results[`hway-auth-${c}`] = await hwaySigns(c, true);
  say(`highway with 16 partitions, concurrency ${c} …`);
  results[`hway-p16-${c}`] = await hwaySigns(c, false, true, 16);
  say(`bullmq + @noble/curves, concurrency ${c} …`);
  results[`bull-${c}`] = await bullmqSigns(c);
}
say(`memory with ${VAULTS} active vaults …`);
const mem = await vaultMemory(VAULTS);
say('re-activation …');
const react = await reactivation();

const rows: Row[] = [];
for (const c of [10, 50]) {
  const h = results[`hway-${c}`]!;
  const b = results[`bull-${c}`]!;
  const cpu = (r: Run): Row => ({ 'consumer CPU µs/sign': r.cpuUs ?? NaN, 'producer CPU µs/sign': r.producerCpuUs ?? NaN });
  rows.push({ system: `BullMQ + @noble/curves (baseline)`, concurrency: c, 'signs/s': b.closed.rate, 'p50 ms': b.closed.p50, 'p99 ms': b.closed.p99, 'p99 ms @ half peak': b.half.p99, 'vs baseline': '1.00x', ...cpu(b.closed) });
  rows.push({ system: 'Highway (ingress → actor → enclave)', concurrency: c, 'signs/s': h.closed.rate, 'p50 ms': h.closed.p50, 'p99 ms': h.closed.p99, 'p99 ms @ half peak': h.half.p99, 'vs baseline': `${fmt(h.closed.rate / b.closed.rate, 2)}x`, ...cpu(h.closed) });
  const a = results[`hway-auth-${c}`]!;
  rows.push({ system: 'Highway, auth on', concurrency: c, 'signs/s': a.closed.rate, 'p50 ms': a.closed.p50, 'p99 ms': a.closed.p99, 'p99 ms @ half peak': a.half.p99, 'vs baseline': `${fmt(a.closed.rate / b.closed.rate, 2)}x`, ...cpu(a.closed) });
  const q = results[`hway-p16-${c}`]!;
  rows.push({ system: 'Highway, 16 partitions', concurrency: c, 'signs/s': q.closed.rate, 'p50 ms': q.closed.p50, 'p99 ms': q.closed.p99, 'p99 ms @ half peak': q.half.p99, 'vs baseline': `${fmt(q.closed.rate / b.closed.rate, 2)}x`, ...cpu(q.closed) });
}
if (wantsJson()) {
  console.log(JSON.stringify({ seconds: MS / 1000, runs: results, ratios: Object.fromEntries([10, 50].flatMap((c) => [[`c${c}`, results[`hway-${c}`]!.closed.rate / results[`bull-${c}`]!.closed.rate], [`c${c}p16`, results[`hway-p16-${c}`]!.closed.rate / results[`bull-${c}`]!.closed.rate]])), vaults: { count: VAULTS, ...mem, ...react } }));
} else {
  console.log(table('end-to-end signatures (producer in its own process; consumer = the node or the BullMQ worker; same Redis, same run)', rows));
  console.log('');
  console.log(table('vaults', [{ 'active vaults': mem.active, 'RSS KiB/vault': mem.rssKiBPerVault, 'sign ms (active, median)': react.activeSignMs, 'sign ms (re-activation, median)': react.reactivationMs }]));
}
process.exit(0);
