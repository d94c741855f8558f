// Ingress benchmark: Highway's Redis mailbox next to BullMQ doing the same no-op work on the same Redis
// in the same run. Producer and consumer share one process for both systems.
//
//   npm run bench:ingress [-- --json] [-- --redis redis://127.0.0.1:6379] [-- --scale 0.5]
//
// Rows: enqueue rate one at a time (awaited) and batched (enqueueMany / addBulk); end-to-end no-op
// throughput at concurrency 10 and 50 (from the first enqueue to the last completion of N tasks
// enqueued in batches while the consumer runs); latency from enqueue to reply at half of each
// system's peak rate and at a fixed 1,000/s (open loop, 1 s warm-up; Highway: call() reply over
// pub/sub; BullMQ: QueueEvents 'completed'), with the consumer in a child process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { createIngress, IngressClient } from '../actors/ingress/index.js';
import { percentile, table, wantsJson, type Row } from './report.js';
import { deleteKeysWithPrefix } from '../storage/prefix-keys.js';

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

const url = new URL(REDIS);
const bullConnection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const quiet = winston.createLogger({ level: 'error', transports: [new winston.transports.Console({ stderrLevels: ['error'] })] });
const run = randomBytes(3).toString('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string) => {
  if (!wantsJson()) process.stderr.write(`${s}\n`);
};

// ---------- Highway ----------

async function hwayEnqueue(nSingle = N_SINGLE, nBatch = N_BATCH): Promise<{ single: number; batched: number }> {
  const prefix = `hwb-${run}-enq`;
  const client = new IngressClient({ redis: REDIS, prefix, logger: quiet });
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
    await wipe(prefix);
  }
}

async function hwayE2E(concurrency: number): Promise<number> {
  const prefix = `hwb-${run}-e2e${concurrency}`;
  const ingress = createIngress({ redis: REDIS, prefix, concurrency, logger: quiet, handlers: { noop: async () => null } });
  await ingress.start();
  const client = new IngressClient({ redis: REDIS, prefix, logger: quiet });
  try {
    const items = Array.from({ length: N_E2E }, (_, i) => ({ type: 'noop', payload: { i } }));
    const t0 = performance.now();
    for (let i = 0; i < N_E2E; i += BATCH) await client.enqueueMany(items.slice(i, i + BATCH));
    while (ingress.stats().completed < N_E2E) await sleep(1);
    return N_E2E / ((performance.now() - t0) / 1000);
  } finally {
    await ingress.stop();
    await client.close();
    await wipe(prefix);
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
async function startWorker(system: 'hway' | 'bullmq', name: string): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--disable-warning=ExperimentalWarning', fileURLToPath(new URL('./ingress-worker.ts', import.meta.url)), system, REDIS, name, '10'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${system} worker exited with ${code}`)));
  });
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
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

async function wipe(prefix: string): Promise<void> {
  const r = new Redis(REDIS);
  await deleteKeysWithPrefix(r, prefix);
  await r.quit();
}

const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.round((a / b) * 100) / 100 : NaN);

async function main(): Promise<void> {
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
