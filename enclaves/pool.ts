// A pool of worker threads, each hosting many enclave instances (see pool-worker.mjs for why).
//
// Calls queue per worker and go over in batches (one message for many calls), so a busy node pays one
// thread hop per batch, not per call.
//
// What the timeout (20 s by default) covers: one call's own execution inside the wasm, and nothing
// else. Waiting in the queue behind other calls, the thread hop, a worker's start-up and the creation
// of an instance (after a replacement, every instance is re-created on its next call) are not on the
// clock, because on a busy machine they grow with load, not with what the call does; a deadline on them
// would fail ordinary work. The worker publishes the sequence number of the call it is executing in
// shared memory; a watchdog looks at it every quarter of the timeout, and a call that it has seen
// executing for a whole timeout is stuck: the worker is terminated (that is what really stops a wasm
// call that spins), that call fails with E_TIMEOUT, and a fresh worker takes its place. The other calls
// of the batch are sent again, which is safe because an enclave call is a pure function of its input
// (all vault state travels sealed in the input). Instances that lived in the old worker are re-created
// on their next call; they hold nothing that is not in the sealed data.
//
// Memory: a wasm module's linear memory is capped when it is linked (Extism's memory.maxPages caps
// only Extism's own blocks), so the caps come as two modules of the same code. Fast workers hold the
// long-lived vault instances (and the shared verifiers) of `module`, capped at 64 MiB; KDF workers run
// export and import each in a fresh instance of `kdfModule`, capped at 1 GiB + 64 MiB for Argon2id
// (256 MiB by default), closed right after its call. An export or import that reaches a fast instance
// anyway (a raw call) cannot grow it past 64 MiB: Argon2id's allocation fails there (E_ENCLAVE).
// Wasm memory never shrinks, and a closed instance's is freed only when V8 collects that worker's
// heap, which a small heap rarely needs (measured: a KDF worker kept one to three 256 MiB work areas
// resident between exports). So a KDF worker is ended after each call it answers and a fresh one is
// started at once: ending a worker frees all it held, deterministically, with no GC flags; its start-up
// is off the clock and small beside a 1–2 s KDF. Memory stays at one work area per KDF worker, and
// only while a call runs.
import { Worker } from 'node:worker_threads';
import { HwayError } from '../errors.js';
import { logger as makeLogger, type Logger } from '../log.js';

export interface PoolOptions {
  /** The plugin of the fast workers' instances (small linear-memory cap: vault.wasm, 64 MiB). */
  module: WebAssembly.Module;
  /**
   * The plugin of the KDF workers' one-shot instances (export, import): the same code linked with a
   * large linear-memory cap (vault-kdf.wasm, 1 GiB + 64 MiB) for Argon2id's work area. Default: `module`.
   */
  kdfModule?: WebAssembly.Module;
  /**
   * The master keys as the enclave's `set_master_keys` input frame (master-keys.ts `masterKeyFrame`),
   * or none. Shared memory: every worker reads this one copy and hands it to each plugin instance it
   * creates; the pool zeroes it when it closes. Never logged, never copied into a string.
   */
  masterKeys?: SharedArrayBuffer;
  /** Workers for fast calls (generate, sign, verify, refresh). */
  workers: number;
  /** Workers for one-shot memory-hard calls (export, import), so a 1–2 s KDF never delays a sign. */
  kdfWorkers: number;
  timeoutMs: number;
  /** Most calls in one batch; a batch must finish well within the timeout. */
  maxBatch: number;
  logger?: Logger;
}

interface Call {
  seq: number;
  inst: number;
  fn: string;
  input: Uint8Array;
  oneShot: boolean;
  attempts: number;
  resolve: (output: Uint8Array) => void;
  reject: (err: HwayError) => void;
}

interface WorkerResult {
  seq: number;
  output?: Uint8Array;
  error?: { code: 'E_BAD_INPUT' | 'E_ENCLAVE'; message: string };
}

/** How often one call may be caught in a worker that died of another call before it fails. */
const MAX_ATTEMPTS = 3;
const WORKER_URL = new URL('./pool-worker.mjs', import.meta.url);

class WorkerSlot {
  instances = 0;
  restarts = 0;
  /** Calls submitted (pool bookkeeping such as closing an instance is not a call) and calls stopped as stuck: metrics. */
  calls = 0;
  timeouts = 0;
  private worker!: Worker;
  private readonly progress = new Int32Array(new SharedArrayBuffer(4));
  private readonly queue: Call[] = [];
  private running: Call[] | null = null;
  private timer: NodeJS.Timeout | undefined;
  private scheduled: NodeJS.Immediate | undefined;
  /** The call the watchdog saw executing, and when it first saw it (host clock). */
  private watched = { seq: 0, since: 0 };
  private closed = false;
  /** A worker's start-up (tens of ms) must not count against the first call's timeout. */
  private online = false;
  /** Workers ended by `recycle` and not yet gone; `close` waits for them. */
  private readonly retiring = new Set<Promise<number>>();

  constructor(
    private readonly name: string,
    private readonly opts: PoolOptions,
    private readonly maxBatch: number,
    private readonly log: Logger,
    /** End the worker after each batch it answers and start a fresh one (KDF workers: see "Memory"). */
    private readonly recycleAfterBatch = false,
  ) {
    this.spawn();
  }

  get depth(): number {
    return this.queue.length + (this.running?.length ?? 0);
  }

  submit(call: Call): void {
    if (this.closed) return call.reject(new HwayError('E_CLOSED', 'enclave pool is closed'));
    if (call.fn !== '__close') this.calls++;
    this.queue.push(call);
    // Sent at the end of this turn of the event loop, not at once: calls submitted by the same turn (the
    // tasks of one fetch, each in its own vault actor) go over as one batch instead of one, then the rest.
    if (this.scheduled === undefined) this.scheduled = setImmediate(() => ((this.scheduled = undefined), this.pump()));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearImmediate(this.scheduled);
    const pending = [...(this.running ?? []), ...this.queue.splice(0)];
    this.running = null;
    for (const call of pending) call.reject(new HwayError('E_CLOSED', 'enclave pool is closed'));
    this.worker.removeAllListeners();
    await Promise.all([this.worker.terminate(), ...this.retiring]);
  }

  private spawn(): void {
    const { module, masterKeys } = this.opts;
    this.online = false;
    this.watched = { seq: 0, since: 0 };
    // A SharedArrayBuffer in workerData is shared, not cloned: no worker gets a copy of the keys.
    this.worker = new Worker(WORKER_URL, { workerData: { module, masterKeys, progress: this.progress }, name: this.name });
    this.worker.once('online', () => {
      this.online = true;
      this.pump();
    });
    this.worker.on('message', (msg: { results: WorkerResult[] }) => this.settle(msg.results));
    this.worker.on('error', (err) => this.replace(`worker error: ${err.message}`, 0));
    this.worker.on('exit', (code) => this.replace(`worker exited with code ${code}`, 0));
  }

  private pump(): void {
    if (!this.online || this.running !== null || this.queue.length === 0 || this.closed) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.running = batch;
    this.worker.postMessage({ batch: batch.map(({ seq, inst, fn, input, oneShot }) => ({ seq, inst, fn, input, oneShot })) });
    this.watch();
  }

  /**
   * While a batch runs: a call seen executing for a whole timeout is stuck. It is timed from when the
   * watchdog first saw it, so it always gets at least `timeoutMs` of its own execution, and is stopped
   * within 1.25 × `timeoutMs` (one look every quarter). Only the host's clock is used.
   */
  private watch(): void {
    clearTimeout(this.timer);
    if (this.running === null || this.closed) return;
    const seq = Atomics.load(this.progress, 0);
    const now = performance.now();
    if (seq !== this.watched.seq) this.watched = { seq, since: now };
    else if (seq !== 0 && now - this.watched.since >= this.opts.timeoutMs) return this.replace('call timed out', seq);
    this.timer = setTimeout(() => this.watch(), Math.max(1, this.opts.timeoutMs / 4));
  }

  private settle(results: WorkerResult[]): void {
    clearTimeout(this.timer);
    const batch = new Map((this.running ?? []).map((c) => [c.seq, c]));
    this.running = null;
    for (const r of results) {
      const call = batch.get(r.seq);
      if (call === undefined) continue;
      batch.delete(r.seq);
      if (r.error !== undefined) call.reject(new HwayError(r.error.code, r.error.message, { permanent: r.error.code === 'E_BAD_INPUT' }));
      else call.resolve(r.output ?? new Uint8Array(0));
    }
    // A result the worker did not send back is a protocol bug; never leave a caller hanging.
    for (const call of batch.values()) call.reject(new HwayError('E_ENCLAVE', 'enclave worker lost a call'));
    if (this.recycleAfterBatch && !this.closed) this.recycle();
    this.pump();
  }

  /** Ends the idle worker (freeing all its memory) and starts a fresh one; not a failure. */
  private recycle(): void {
    const old = this.worker;
    old.removeAllListeners();
    old.on('error', () => {});
    const gone = old.terminate().catch(() => 0);
    this.retiring.add(gone);
    void gone.then(() => this.retiring.delete(gone));
    this.spawn();
  }

  /** Terminate the worker and start a fresh one; `stuckSeq` (0: none known) fails with E_TIMEOUT. */
  private replace(reason: string, stuckSeq: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const old = this.worker;
    old.removeAllListeners();
    old.on('error', () => {});
    void old.terminate();
    this.restarts++;
    const interrupted = this.running ?? [];
    this.running = null;
    const retry: Call[] = [];
    for (const call of interrupted) {
      call.attempts++;
      if (call.seq === stuckSeq) {
        this.timeouts++;
        call.reject(new HwayError('E_TIMEOUT', `enclave call ${call.fn} exceeded ${this.opts.timeoutMs} ms and was stopped`));
      } else if (call.attempts >= MAX_ATTEMPTS) {
        call.reject(new HwayError('E_ENCLAVE', `enclave worker failed ${call.attempts} times during ${call.fn}`));
      } else {
        retry.push(call);
      }
    }
    this.log.warn('enclave worker replaced', { worker: this.name, reason, interrupted: interrupted.length, restarts: this.restarts });
    this.queue.unshift(...retry);
    this.spawn();
    this.pump();
  }
}

export interface PoolStats {
  workers: number;
  kdfWorkers: number;
  instances: number;
  restarts: number;
  queued: number;
  /** Calls submitted since the pool opened, and those stopped after the timeout (E_TIMEOUT). */
  calls: number;
  timeouts: number;
}

export class EnclavePool {
  private readonly fast: WorkerSlot[];
  private readonly kdf: WorkerSlot[];
  private readonly home = new Map<number, WorkerSlot>();
  private seq = 0;
  private nextInst = 1;
  private readonly masterKeys: SharedArrayBuffer | undefined;

  constructor(opts: PoolOptions) {
    this.masterKeys = opts.masterKeys;
    const log = opts.logger ?? makeLogger('enclave-pool');
    this.fast = Array.from({ length: Math.max(1, opts.workers) }, (_, i) => new WorkerSlot(`enclave-${i}`, opts, opts.maxBatch, log));
    // KDF workers create their instances from the large-cap module: only they may grow to Argon2id's
    // work area; each such instance lives for one call (pool-worker.mjs, oneShot), each worker for one
    // batch of one call ("Memory" above).
    const kdfOpts: PoolOptions = { ...opts, module: opts.kdfModule ?? opts.module };
    this.kdf = Array.from({ length: Math.max(1, opts.kdfWorkers) }, (_, i) => new WorkerSlot(`enclave-kdf-${i}`, kdfOpts, 1, log, true));
  }

  /** Reserves an instance on the least-populated worker; the worker creates it on its first call. */
  newInstance(): number {
    const slot = this.fast.reduce((a, b) => (b.instances < a.instances ? b : a));
    const inst = this.nextInst++;
    slot.instances++;
    this.home.set(inst, slot);
    return inst;
  }

  async closeInstance(inst: number): Promise<void> {
    const slot = this.home.get(inst);
    if (slot === undefined) return;
    this.home.delete(inst);
    slot.instances--;
    await this.submit(slot, inst, '__close', new Uint8Array(0), false).catch(() => undefined);
  }

  /** A call on one instance; calls on one instance run in submission order, never two at once. */
  call(inst: number, fn: string, input: Uint8Array): Promise<Uint8Array> {
    const slot = this.home.get(inst);
    if (slot === undefined) return Promise.reject(new HwayError('E_CLOSED', 'enclave instance is closed'));
    return this.submit(slot, inst, fn, input, false);
  }

  /** A call on a worker's shared instance (verification needs no secret, so instances can be shared). */
  callShared(fn: string, input: Uint8Array): Promise<Uint8Array> {
    const index = this.leastBusy(this.fast);
    return this.submit(this.fast[index]!, -1 - index, fn, input, false);
  }

  /** A call in a fresh instance that is closed right after (export, import). */
  callOneShot(fn: string, input: Uint8Array): Promise<Uint8Array> {
    return this.submit(this.kdf[this.leastBusy(this.kdf)]!, 0, fn, input, true);
  }

  stats(): PoolStats {
    const all = [...this.fast, ...this.kdf];
    return {
      workers: this.fast.length,
      kdfWorkers: this.kdf.length,
      instances: this.home.size,
      restarts: all.reduce((n, s) => n + s.restarts, 0),
      queued: all.reduce((n, s) => n + s.depth, 0),
      calls: all.reduce((n, s) => n + s.calls, 0),
      timeouts: all.reduce((n, s) => n + s.timeouts, 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.fast, ...this.kdf].map((s) => s.close()));
    this.home.clear();
    // Every worker is gone: nothing will create an instance again.
    if (this.masterKeys !== undefined) new Uint8Array(this.masterKeys).fill(0);
  }

  private leastBusy(slots: WorkerSlot[]): number {
    let best = 0;
    for (let i = 1; i < slots.length; i++) if (slots[i]!.depth < slots[best]!.depth) best = i;
    return best;
  }

  private submit(slot: WorkerSlot, inst: number, fn: string, input: Uint8Array, oneShot: boolean): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      // Sequence numbers stay positive int32s: 0 means "idle" in the worker's progress word.
      this.seq = (this.seq % 0x7ffffffe) + 1;
      slot.submit({ seq: this.seq, inst, fn, input, oneShot, attempts: 0, resolve, reject });
    });
  }
}
