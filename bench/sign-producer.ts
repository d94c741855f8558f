// The producing side of bench/pipeline.ts and bench/profile.ts in its own process, as real producers
// are other services: a HwayClient (or a BullMQ Queue + QueueEvents) issuing signs against a node (or
// worker) that the parent runs. Driven over the IPC channel, one phase at a time, so the parent can
// read its own CPU usage around exactly the measured part:
//   parent → {phase: 'closed', inFlight, ms} | {phase: 'open', rate, ms} | {phase: 'exit'}
//   child  → {ready: true} once set up, then one Run per phase ({rate, p50, p99, n, cpuUs})
// Started by the parent with fork(); the set-up comes as one JSON argument (ProducerSetup).
import { Queue, QueueEvents } from 'bullmq';
import { createHash } from 'node:crypto';
import { HwayClient } from '../actors/client.js';
import type { ClusterConfig } from '../storage/redis.js';
import { percentile } from './report.js';

export interface ProducerSetup {
  system: 'hway' | 'bull';
  /** A URL; Highway also takes a Redis Cluster's seeds. */
  redis: string | ClusterConfig;
  /** Highway: the node's key prefix. BullMQ: the queue's prefix. */
  prefix: string;
  token?: string;
  /** Highway: vault ids the producer generates, then signs with in turn. BullMQ: key indices. */
  keys: number;
  /** Highway: the partition count the node was given (default 64). */
  partitions?: number;
}
export type Phase = { phase: 'closed'; inFlight: number; ms: number } | { phase: 'open'; rate: number; ms: number } | { phase: 'exit' };
export interface Run {
  rate: number;
  p50: number;
  p99: number;
  n: number;
  /** CPU time of the producer process per sign, µs. */
  cpuUs: number;
}

const setup = JSON.parse(process.argv[2]!) as ProducerSetup;
const digest = createHash('sha256').update('benchmark').digest();
const send = (m: unknown): void => void process.send!(m);

let op: () => Promise<unknown>;
let close: () => Promise<void>;
if (setup.system === 'hway') {
  const client = new HwayClient({ redis: setup.redis, prefix: setup.prefix, callTimeoutMs: 60_000, ...(setup.partitions === undefined ? {} : { partitions: setup.partitions }), ...(setup.token === undefined ? {} : { token: setup.token }) });
  const ids = Array.from({ length: setup.keys }, (_, i) => `bench-${i}`);
  await Promise.all(ids.map((id) => client.vault.generate(id)));
  let i = 0;
  op = () => client.vault.sign(ids[i++ % ids.length]!, digest);
  close = () => client.close();
} else {
  if (typeof setup.redis !== 'string') throw new Error('the BullMQ producer takes a Redis URL');
  const url = new URL(setup.redis);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const queue = new Queue('sign', { connection, prefix: setup.prefix });
  const events = new QueueEvents('sign', { connection, prefix: setup.prefix });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  // waitUntilFinished adds listeners per job in flight.
  queue.setMaxListeners(10_000);
  events.setMaxListeners(10_000);
  const d = digest.toString('hex');
  let i = 0;
  op = async () => {
    const job = await queue.add('s', { k: i++ % setup.keys, d }, { removeOnComplete: { count: 5000 }, removeOnFail: { count: 5000 } });
    const sig = (await job.waitUntilFinished(events, 60_000)) as string;
    // The same check a Highway producer gets from its client: the answer is a signature of 64 bytes.
    if (sig.length !== 128) throw new Error('bad signature from the worker');
  };
  close = async () => {
    await events.close();
    await queue.close();
  };
}

/** Closed loop: `inFlight` chains for `ms`; latency of each sign. */
async function closedLoop(inFlight: number, ms: number): Promise<Run> {
  const lat: number[] = [];
  const until = performance.now() + ms;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        await op();
        lat.push(performance.now() - s);
      }
    }),
  );
  return summary(lat, t0, cpu0);
}

/**
 * Open loop at `rate` per second: one unmeasured second to reach the steady state at that rate (as
 * bench:ingress does), then `ms` measured: latency from issue to answer, not hidden by back-pressure.
 */
async function openLoop(rate: number, ms: number): Promise<Run> {
  await paced(rate, 1000);
  return paced(rate, ms);
}

async function paced(rate: number, ms: number): Promise<Run> {
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let issued = 0;
  while (performance.now() - t0 < ms) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; issued < due; issued++) {
      const s = performance.now();
      pending.push(op().then(() => void lat.push(performance.now() - s)));
    }
    // A timer, not setImmediate: an immediate loop spins a whole core while it waits, which on a
    // 2-core machine takes the CPU the system under test needs (measured: 2.8 ms of producer CPU per
    // sign at 355 signs/s, and p99 at half peak 10× worse than with this timer).
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return summary(lat, t0, cpu0);
}

function summary(lat: number[], t0: number, cpu0: NodeJS.CpuUsage): Run {
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { rate: lat.length / secs, p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length, cpuUs: (cpu.user + cpu.system) / Math.max(1, lat.length) };
}

process.on('message', (m: Phase) => {
  if (m.phase === 'exit') void close().finally(() => process.exit(0));
  else if (m.phase === 'closed') void closedLoop(m.inFlight, m.ms).then(send);
  else void openLoop(m.rate, m.ms).then(send);
});
send({ ready: true });
