// Ingress benchmark: Highway's Redis mailbox next to BullMQ doing the same no-op work on the same Redis
// in the same run. Producer and consumer share one process for both systems.
//
//   npm run bench:ingress [-- --json] [-- --redis redis://127.0.0.1:6379] [-- --scale 0.5] [-- --cluster]
//
// Rows: enqueue rate one at a time (awaited) and batched (enqueueMany / addBulk); end-to-end no-op
// throughput at concurrency 10 and 50 (from the first enqueue to the last completion of N tasks
// enqueued in batches while the consumer runs); latency from enqueue to reply at half of each
// system's peak rate and at a fixed 1,000/s (open loop, 1 s warm-up; Highway: call() reply over
// pub/sub; BullMQ: QueueEvents 'completed'), with the consumer in a child process.
//
// --cluster: Highway only (no BullMQ, no latency rows). Starts a local Redis Cluster (3 masters + 3
// replicas, spec/helpers/redis-cluster.ts) and runs the enqueue and end-to-end rows against the single
// Redis, the cluster, and the cluster with durability { replicas: 1, timeoutMs: 1000 } (WAIT 1 after
// every enqueue and outcome write), interleaved row by row; cluster figures are reported as ratios to
// the single Redis's of the same run. The cluster is stopped at the end, on error and on SIGINT/SIGTERM.
import { randomBytes } from 'node:crypto';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { createIngress, IngressClient, type Durability, type Ingress, type RedisSource } from '../actors/ingress/index.js';
import { startReadyChild, type ReadyChild } from './ready-child.js';
import { percentile, table, wantsJson, type Row } from './report.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';
import { closeConnection, connect } from '../storage/redis.js';
import { startCluster, type LocalCluster } from '../spec/helpers/redis-cluster.js';

const arg = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : d;
};
const REDIS = arg('redis', process.env.HWAY_REDIS ?? 'redis://127.0.0.1:6379');
const SCALE = Number(arg('scale', '1'));
const N_SINGLE = Math.round(2000 * SCALE);
const N_BATCH = Math.round(20000 * SCALE);
const N_E2E = Math.round(20000 * SCALE);
const LAT_MS = Math.round(3000 * Math.max(SCALE, 0.5));
const BATCH = 500;
const WARMUP_MS = 1000;
const FIXED_RATE = 1000;
const WARMUP_OPS = 500;
const CLUSTER = process.argv.includes('--cluster');
const CLUSTER_DURABILITY: Durability = { replicas: 1, timeoutMs: 1000 };
/** An end-to-end run that completes no task for this long has hung (an error, not a slow machine). */
const STALL_MS = 120_000;

/** Where Highway's rows run: the single Redis, or the cluster with or without durability. */
interface Target {
  /** Part of the key prefix ('' for the single Redis: its prefixes are those of the plain bench). */
  tag: string;
  src: RedisSource;
  durability?: Durability;
}
const SINGLE: Target = { tag: '', src: REDIS };

const url = new URL(REDIS);
const bullConnection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const quiet = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });
const run = randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string) => {
  if (!wantsJson()) process.stderr.write(`${s}\n`);
};

// ---------- Highway ----------

async function hwayEnqueue(nSingle = N_SINGLE, nBatch = N_BATCH, t: Target = SINGLE): Promise<{ single: number; batched: number }> {
  const prefix = `hwb-${run}${t.tag}-enq`;
  const client = new IngressClient({ redis: t.src, prefix, logger: quiet, ...durable(t) });
  try {
    for (let i = 0; i < WARMUP_OPS; i++) await client.enqueue('noop', { i });
    await client.enqueueMany(Array.from({ length: BATCH }, (_, i) => ({ type: 'noop', payload: { i } })));
    let t0 = performance.now();
    for (let i = 0; i < nSingle; i++) await client.enqueue('noop', { i });
    const single = nSingle / ((performance.now() - t0) / 1000);
    const items = Array.from({ length: nBatch }, (_, i) => ({ type: 'noop', payload: { i } }));
    t0 = performance.now();
    for (let i = 0; i < nBatch; i += BATCH) await client.enqueueMany(items.slice(i, i + BATCH));
    const batched = nBatch / ((performance.now() - t0) / 1000);
    return { single, batched };
  } finally {
    await client.close();
    await wipe(prefix, t);
  }
}

async function hwayE2E(concurrency: number, t: Target = SINGLE): Promise<number> {
  const prefix = `hwb-${run}${t.tag}-e2e${concurrency}`;
  const ingress = createIngress({ redis: t.src, prefix, concurrency, logger: quiet, ...durable(t), handlers: { noop: async () => null } });
  await ingress.start();
  const client = new IngressClient({ redis: t.src, prefix, logger: quiet, ...durable(t) });
  try {
    const items = Array.from({ length: N_E2E }, (_, i) => ({ type: 'noop', payload: { i } }));
    const t0 = performance.now();
    for (let i = 0; i < N_E2E; i += BATCH) await client.enqueueMany(items.slice(i, i + BATCH));
    await allCompleted(ingress, N_E2E, prefix);
    return N_E2E / ((performance.now() - t0) / 1000);
  } finally {
    await ingress.stop();
    await client.close();
    await wipe(prefix, t);
  }
}

const durable = (t: Target): { durability?: Durability } => (t.durability ? { durability: t.durability } : {});

/** Until the node has completed n tasks; throws (naming its stats) when none completes for STALL_MS. */
async function allCompleted(ingress: Ingress, n: number, what: string): Promise<void> {
  let last = ingress.stats().completed;
  let lastAt = performance.now();
  while (ingress.stats().completed < n) {
    await sleep(1);
    const done = ingress.stats().completed;
    if (done !== last) {
      last = done;
      lastAt = performance.now();
    } else if (performance.now() - lastAt > STALL_MS) {
      throw new Error(`${what}: no task completed for ${STALL_MS / 1000} s (${done} of ${n} done; stats ${JSON.stringify(ingress.stats())})`);
    }
  }
}

async function hwayLatency(rates: number[]): Promise<number[][]> {
  const prefix = `hwb-${run}-lat`;
  const worker = await startWorker('hway', prefix);
  const client = new IngressClient({ redis: REDIS, prefix, logger: quiet });
  try {
    await client.call('noop', {}); // subscribe the reply channel before measuring
    const out: number[][] = [];
    for (const rate of rates) out.push(await openLoop(rate, LAT_MS, () => client.call('noop', {})));
    return out;
  } finally {
    await client.close();
    await worker.stop();
    await wipe(prefix);
  }
}

// ---------- BullMQ ----------

const jobOpts = { removeOnComplete: true, removeOnFail: true };

async function bullEnqueue(nSingle = N_SINGLE, nBatch = N_BATCH): Promise<{ single: number; batched: number }> {
  const queue = new Queue(`hwb-${run}-enq`, { connection: bullConnection });
  await queue.waitUntilReady();
  try {
    for (let i = 0; i < WARMUP_OPS; i++) await queue.add('noop', { i }, jobOpts);
    await queue.addBulk(Array.from({ length: BATCH }, (_, i) => ({ name: 'noop', data: { i }, opts: jobOpts })));
    let t0 = performance.now();
    for (let i = 0; i < nSingle; i++) await queue.add('noop', { i }, jobOpts);
    const single = nSingle / ((performance.now() - t0) / 1000);
    const items = Array.from({ length: nBatch }, (_, i) => ({ name: 'noop', data: { i }, opts: jobOpts }));
    t0 = performance.now();
    for (let i = 0; i < nBatch; i += BATCH) await queue.addBulk(items.slice(i, i + BATCH));
    const batched = nBatch / ((performance.now() - t0) / 1000);
    return { single, batched };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function bullE2E(concurrency: number): Promise<number> {
  const name = `hwb-${run}-e2e${concurrency}`;
  const queue = new Queue(name, { connection: bullConnection });
  let completed = 0;
  const worker = new Worker(name, async () => null, { connection: bullConnection, concurrency });
  worker.on('completed', () => completed++);
  await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
  try {
    const items = Array.from({ length: N_E2E }, (_, i) => ({ name: 'noop', data: { i }, opts: jobOpts }));
    const t0 = performance.now();
    for (let i = 0; i < N_E2E; i += BATCH) await queue.addBulk(items.slice(i, i + BATCH));
    while (completed < N_E2E) await sleep(1);
    return N_E2E / ((performance.now() - t0) / 1000);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

async function bullLatency(rates: number[]): Promise<number[][]> {
  const name = `hwb-${run}-lat`;
  const queue = new Queue(name, { connection: bullConnection });
  const events = new QueueEvents(name, { connection: bullConnection });
  const worker = await startWorker('bullmq', name);
  const waiting = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => {
    const w = waiting.get(jobId);
    if (w) {
      waiting.delete(jobId);
      w();
    }
  });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  await sleep(200); // let QueueEvents start its blocking read
  let seq = 0;
  try {
    const out: number[][] = [];
    for (const rate of rates) {
      out.push(
        await openLoop(rate, LAT_MS, async () => {
          const jobId = `j${seq++}`;
          const done = new Promise<void>((r) => waiting.set(jobId, r));
          await queue.add('noop', {}, { ...jobOpts, jobId });
          await done;
        }),
      );
    }
    return out;
  } finally {
    await worker.stop();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

/** The consumer in a child process (bench/ingress-worker.ts), concurrency 10. */
function startWorker(system: 'hway' | 'bullmq', name: string): Promise<ReadyChild> {
  return startReadyChild(new URL('./ingress-worker.ts', import.meta.url), [system, REDIS, name, '10'], `${system} worker`);
}

// ---------- shared ----------

/**
 * Starts op() at a fixed rate (not waiting for earlier ones) for a warm-up and then `ms`, without a
 * pause in between (steady state); returns the latencies (ms) of the calls started after the warm-up.
 */
async function openLoop(rate: number, ms: number, op: () => Promise<unknown>): Promise<number[]> {
  const lat: number[] = [];
  const pending: Promise<unknown>[] = [];
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < WARMUP_MS + ms) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      sent++;
      const s = performance.now();
      const measured = s - t0 >= WARMUP_MS;
      pending.push(
        op().then(() => {
          if (measured) lat.push(performance.now() - s);
        }),
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  return lat.sort((a, b) => a - b);
}

async function wipe(prefix: string, t: Target = SINGLE): Promise<void> {
  if (typeof t.src === 'string') {
    const r = new Redis(t.src);
    await deleteKeysWithPrefix(r, prefix);
    await r.quit();
    return;
  }
  const r = connect(t.src, {});
  r.on('error', () => undefined);
  try {
    await deleteKeysWithPrefix(r, prefix);
  } finally {
    await closeConnection(r);
  }
}

const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.round((a / b) * 100) / 100 : NaN);

async function main(): Promise<void> {
  if (CLUSTER) return mainCluster();
  const started = Date.now();
  log(`ingress benchmark against ${REDIS} (scale ${SCALE}) ...`);
  // Both warmed up first (JIT, ioredis paths, Redis script cache), then measured.
  await hwayEnqueue(2000, 5000);
  await bullEnqueue(2000, 5000);
  const he = await hwayEnqueue();
  const be = await bullEnqueue();
  log('  enqueue done');
  const h10 = await hwayE2E(10);
  const b10 = await bullE2E(10);
  const h50 = await hwayE2E(50);
  const b50 = await bullE2E(50);
  log('  throughput done');
  const hRate = Math.round(h10 / 2);
  const bRate = Math.round(b10 / 2);
  const same = Math.min(hRate, bRate);
  const [hl, hSame, hFixed] = await hwayLatency([hRate, same, FIXED_RATE]);
  const [bl, bFixed] = await bullLatency([bRate, FIXED_RATE]);
  const bSame = same === bRate ? bl : undefined;
  log('  latency done');

  const pct = (xs: number[] | undefined, p: number) => (xs ? round2(percentile(xs, p)) : NaN);
  const lat = (label: string, h: number[] | undefined, b: number[] | undefined): Row[] => [
    { metric: `${label} p50 (ms)`, highway: pct(h, 50), bullmq: pct(b, 50), ratio: ratio(pct(h, 50), pct(b, 50)) },
    { metric: `${label} p99 (ms)`, highway: pct(h, 99), bullmq: pct(b, 99), ratio: ratio(pct(h, 99), pct(b, 99)) },
  ];
  const rows: Row[] = [
    { metric: 'enqueue, one at a time (/s)', highway: Math.round(he.single), bullmq: Math.round(be.single), ratio: ratio(he.single, be.single) },
    { metric: `enqueue, batched by ${BATCH} (/s)`, highway: Math.round(he.batched), bullmq: Math.round(be.batched), ratio: ratio(he.batched, be.batched) },
    { metric: 'no-op end-to-end, concurrency 10 (/s)', highway: Math.round(h10), bullmq: Math.round(b10), ratio: ratio(h10, b10) },
    { metric: 'no-op end-to-end, concurrency 50 (/s)', highway: Math.round(h50), bullmq: Math.round(b50), ratio: ratio(h50, b50) },
    { metric: 'half of own c=10 peak (/s)', highway: hRate, bullmq: bRate, ratio: ratio(hRate, bRate) },
    ...lat('  enqueue→reply at half own peak,', hl, bl),
    ...lat(`  enqueue→reply at ${same}/s (both),`, hSame, bSame),
    ...lat(`  enqueue→reply at ${FIXED_RATE}/s (both),`, hFixed, bFixed),
  ];
  const meta = { redis: REDIS, scale: SCALE, tasks: { single: N_SINGLE, batched: N_BATCH, e2e: N_E2E, latencySamples: { highway: hl?.length ?? 0, bullmq: bl?.length ?? 0 } }, seconds: Math.round((Date.now() - started) / 100) / 10 };
  if (wantsJson()) {
    process.stdout.write(`${JSON.stringify({ ingress: rows, ...meta })}\n`);
  } else {
    process.stdout.write(`${table('Highway ingress vs BullMQ 5.81.5 (same Redis, no-op handler; throughput: producer and consumer in one process; latency: consumer in a child process, concurrency 10)', rows)}\n`);
    process.stdout.write(`(${meta.seconds} s; ratio = highway / bullmq; for latency lower is better)\n`);
  }
}

// ---------- --cluster ----------

async function mainCluster(): Promise<void> {
  const started = Date.now();
  log(`ingress benchmark (--cluster): single Redis ${REDIS} vs a local Redis Cluster, 3 masters + 3 replicas (scale ${SCALE}) ...`);
  const cluster = await startCluster();
  log(`  cluster up on ${cluster.seedList}`);
  let stopping: Promise<void> | undefined;
  const stopCluster = (): Promise<void> => (stopping ??= cluster.stop());
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`${sig}: stopping the cluster\n`);
    void stopCluster().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const targets: Target[] = [SINGLE, { tag: '-cl', src: { cluster: cluster.seeds } }, { tag: '-clw', src: { cluster: cluster.seeds }, durability: CLUSTER_DURABILITY }];
    // Each row runs on the three targets back to back, so that a busy spell of the shared machine
    // hits one row of all three rather than every row of one.
    const each = async <T>(f: (t: Target) => Promise<T>): Promise<T[]> => {
      const out: T[] = [];
      for (const t of targets) out.push(await f(t));
      return out;
    };
    for (const t of targets) await hwayEnqueue(2000, 5000, t); // warm-up (JIT, connections, every master's script cache)
    const enq = await each((t) => hwayEnqueue(N_SINGLE, N_BATCH, t));
    log('  enqueue done');
    const e10 = await each((t) => hwayE2E(10, t));
    const e50 = await each((t) => hwayE2E(50, t));
    log('  throughput done');
    report(cluster, started, [
      ['enqueue, one at a time (/s)', enq.map((e) => e.single)],
      [`enqueue, batched by ${BATCH} (/s)`, enq.map((e) => e.batched)],
      ['no-op end-to-end, concurrency 10 (/s)', e10],
      ['no-op end-to-end, concurrency 50 (/s)', e50],
    ]);
  } finally {
    await stopCluster();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function report(cluster: LocalCluster, started: number, figures: [string, number[]][]): void {
  const rows: Row[] = figures.map(([metric, [single, cl, clw]]) => ({
    metric,
    single: Math.round(single!),
    cluster: Math.round(cl!),
    'cluster/single': ratio(cl!, single!),
    'cluster+WAIT': Math.round(clw!),
    '+WAIT/single': ratio(clw!, single!),
    '+WAIT/cluster': ratio(clw!, cl!),
  }));
  const meta = {
    redis: REDIS,
    cluster: { masters: 3, replicasPerMaster: 1, seeds: cluster.seedList, autoPipelining: false },
    durability: CLUSTER_DURABILITY,
    bullmq: 'skipped in --cluster mode',
    scale: SCALE,
    tasks: { single: N_SINGLE, batched: N_BATCH, e2e: N_E2E },
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  if (wantsJson()) {
    process.stdout.write(`${JSON.stringify({ ingress: rows, ...meta })}\n`);
    return;
  }
  process.stdout.write(
    `${table('Highway ingress: single Redis vs a local Redis Cluster (3 masters + 3 replicas, same machine, same run; no-op handler; producer and consumer in one process)', rows)}\n`,
  );
  process.stdout.write(
    `(${meta.seconds} s; single = ${REDIS}; cluster+WAIT = durability { replicas: ${CLUSTER_DURABILITY.replicas}, timeoutMs: ${CLUSTER_DURABILITY.timeoutMs} }, WAIT after every enqueue and outcome write;\n` +
      ` ratios against the same run's figures, higher is better; BullMQ and latency rows skipped in --cluster mode)\n`,
  );
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
