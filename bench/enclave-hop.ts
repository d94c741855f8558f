// The enclave's thread hop, measured (issue 11: "worker postMessage per small batch").
// 1. The real pool (one worker, 64 vaults): signs per second and CPU per sign, all threads of this
//    process, as the number of signs in flight changes. Calls queued while a batch runs go over
//    together, so fewer in flight means smaller batches and more hops per sign. Baseline: 64 in flight.
// 2. One round trip to a worker that does no work, with postMessage and a message shaped like the
//    pool's (what pool.ts uses), and with shared memory and Atomics.wait / Atomics.waitAsync (the
//    alternative). Baseline: postMessage.
// CPU is process.cpuUsage() (every thread), so it counts both sides of each hop; it is less sensitive
// to a busy machine than the rates are.
//   npm run bench:enclave-hop [-- --json] [-- --n 20000]
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { Enclave, type SealBinding } from '../enclaves/enclave.js';
import { ring } from '../enclaves/master-keys.js';
import { numArg, table, wantsJson, type Row } from './report.js';

const N = numArg('n', 20_000);
const IN_FLIGHT = [1, 2, 4, 16, 64];
const digest = createHash('sha256').update('benchmark message').digest();
const binding = (i: number): SealBinding => ({ vaultId: `hop-${i}`, account: 'bench' });
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

interface Measured {
  perSecond: number;
  cpuUsEach: number;
}

/** Runs `op` N times with `inFlight` chains; the rate and the process's CPU per operation. */
async function measure(op: (i: number) => Promise<unknown>, inFlight: number): Promise<Measured> {
  let next = 0;
  const c0 = cpuUs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < N) await op(next++);
    }),
  );
  const wall = performance.now() - t0;
  return { perSecond: (N / wall) * 1000, cpuUsEach: (cpuUs() - c0) / N };
}

async function poolRows(): Promise<Row[]> {
  const enclave = await Enclave.open({ masterKeys: ring([{ id: 1, key: new Uint8Array(32).fill(9) }]), workers: 1, kdfWorkers: 1 });
  try {
    const vaults = await Promise.all(Array.from({ length: 64 }, () => enclave.vault()));
    const keys = await Promise.all(vaults.map((v, i) => v.generate(binding(i))));
    const sign = (i: number): Promise<unknown> => vaults[i & 63]!.sign(keys[i & 63]!.sealed, binding(i & 63), digest);
    await measure(sign, 64); // warm-up: every instance created, the code optimized
    const got = new Map<number, Measured>();
    for (const k of IN_FLIGHT) got.set(k, await measure(sign, k));
    const base = got.get(64)!;
    await Promise.all(vaults.map((v) => v.close()));
    return IN_FLIGHT.map((k) => {
      const m = got.get(k)!;
      return { 'signs in flight': k, 'signs/s': Math.round(m.perSecond), 'CPU µs/sign': Number(m.cpuUsEach.toFixed(1)), 'CPU vs 64 in flight': Number((m.cpuUsEach / base.cpuUsEach).toFixed(2)) };
    });
  } finally {
    await enclave.close();
  }
}

const ECHO_BY_MESSAGE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ batch }) => parentPort.postMessage({ results: batch.map((c) => ({ seq: c.seq, output: new Uint8Array(65) })) }));
`;

async function byMessage(): Promise<Measured> {
  const w = new Worker(ECHO_BY_MESSAGE, { eval: true });
  await new Promise((r) => w.once('online', r));
  try {
    // The pool's message shape: a batch of one sign call, answered with a 65-byte signature.
    const once = (i: number): Promise<unknown> =>
      new Promise((r) => {
        w.once('message', r);
        w.postMessage({ batch: [{ seq: i + 1, inst: 7, fn: 'sign', input: new Uint8Array(200), oneShot: false }] });
      });
    await measure(once, 1);
    return await measure(once, 1);
  } finally {
    await w.terminate();
  }
}

// Slot 0: the last request number (-1: stop); slot 1: the last one answered.
const ECHO_BY_ATOMICS = `
const { workerData } = require('node:worker_threads');
const ctl = new Int32Array(workerData);
for (let seen = 0; ; ) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  if (seen < 0) break;
  Atomics.store(ctl, 1, seen);
  Atomics.notify(ctl, 1);
}
`;

// Node 20 has Atomics.waitAsync; the project's TypeScript lib (ES2022) does not declare it.
type WaitAsync = (a: Int32Array, i: number, v: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

async function byAtomics(): Promise<Measured> {
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const w = new Worker(ECHO_BY_ATOMICS, { eval: true, workerData: ctl.buffer });
  await new Promise((r) => w.once('online', r));
  let req = 0;
  const once = async (): Promise<void> => {
    const asked = ++req;
    Atomics.store(ctl, 0, asked);
    Atomics.notify(ctl, 0);
    // The main thread must not block: it waits for the answer as a promise.
    while (Atomics.load(ctl, 1) !== asked) {
      const r = waitAsync(ctl, 1, asked - 1);
      if (r.async) await r.value;
    }
  };
  try {
    await measure(once, 1);
    return await measure(once, 1);
  } finally {
    Atomics.store(ctl, 0, -1);
    Atomics.notify(ctl, 0);
    await w.terminate();
  }
}

async function hopRows(): Promise<Row[]> {
  const message = await byMessage();
  const atomics = await byAtomics();
  const row = (how: string, m: Measured): Row => ({
    'round trip': how,
    'per second': Math.round(m.perSecond),
    'CPU µs each': Number(m.cpuUsEach.toFixed(1)),
    'CPU vs postMessage': Number((m.cpuUsEach / message.cpuUsEach).toFixed(2)),
  });
  return [row('postMessage (the pool)', message), row('Atomics on shared memory', atomics)];
}

const pool = await poolRows();
const hop = await hopRows();
if (wantsJson()) {
  process.stdout.write(JSON.stringify({ n: N, pool, hop }) + '\n');
} else {
  console.log(table(`enclave pool, one worker, ${N} signs per row`, pool));
  console.log();
  console.log(table(`one round trip to an idle worker, ${N} per row`, hop));
}
